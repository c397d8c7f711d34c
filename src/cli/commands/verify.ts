/** `buildit verify`: placeholder, replaced by the verify work (issue 7). */
import { BuilditError } from '../../errors.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export interface VerifyOptions extends CommonOptions {
  rebuild?: boolean;
  var?: string[];
  jobs?: string;
  sandbox?: string;
  discover?: string[];
  offline?: boolean;
}

export function verifyCommand(
  _dir: string,
  _options: VerifyOptions,
  _io: CliIO,
  _report: Reporter,
): Promise<number> {
  return Promise.reject(new BuilditError('BUILDIT_USAGE', 'buildit verify is not implemented yet'));
}
