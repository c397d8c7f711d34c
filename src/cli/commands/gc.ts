/** `buildit gc`: placeholder, replaced by the gc work (issue 7). */
import { BuilditError } from '../../errors.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export interface GcOptions extends CommonOptions {
  dryRun?: boolean;
  keepDays?: string;
}

export function gcCommand(_options: GcOptions, _io: CliIO, _report: Reporter): Promise<number> {
  return Promise.reject(new BuilditError('BUILDIT_USAGE', 'buildit gc is not implemented yet'));
}
