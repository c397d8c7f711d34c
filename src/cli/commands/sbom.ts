/** `buildit sbom`: placeholder, replaced by the SBOM work (issue 7). */
import { BuilditError } from '../../errors.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export function sbomCommand(
  _image: string,
  _options: CommonOptions,
  _io: CliIO,
  _report: Reporter,
): Promise<number> {
  return Promise.reject(new BuilditError('BUILDIT_USAGE', 'buildit sbom is not implemented yet'));
}
