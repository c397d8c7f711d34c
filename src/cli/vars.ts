/** `--var key=value` (repeatable). */
import { BuilditError } from '../errors.ts';

export function parseVars(list: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) {
      throw new BuilditError('BUILDIT_USAGE_VAR', `--var ${item}: expected key=value`, {
        hint: 'e.g. --var version=1.2.3',
      });
    }
    vars[key] = item.slice(eq + 1);
  }
  return vars;
}
