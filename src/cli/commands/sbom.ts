/** `buildit sbom <image>`: print the SPDX SBOM an image carries. */
import path from 'node:path';
import { readImageSbom } from '../../image/sbom-read.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export async function sbomCommand(
  image: string,
  _options: CommonOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const file = path.resolve(io.cwd, image);
  const sbom = await readImageSbom(file);
  report.answer(sbom.text.trimEnd());
  report.event({ type: 'sbom', image: file, path: sbom.path, document: sbom.document });
  report.event({ type: 'result', ok: true });
  return 0;
}
