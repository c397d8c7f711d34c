/** Shape checks on whole documents that zod reports poorly. */
import { BuilditError, type Problems } from '../errors.ts';
import { kindOf } from './validate.ts';
import type { Path, YamlFile } from './yaml.ts';

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The mapping at `path`, or a BUILDIT_SCHEMA_TYPE problem. */
export function mappingAt(
  yaml: YamlFile,
  path: Path,
  what: string,
  problems: Problems,
): Record<string, unknown> | undefined {
  let value: unknown = yaml.value;
  for (const key of path) value = (value as Record<string | number, unknown>)[key];
  if (isMapping(value)) return value;
  problems.add(
    new BuilditError('BUILDIT_SCHEMA_TYPE', `expected ${what} (a YAML mapping), got ${kindOf(value)}`, {
      location: yaml.locate(path),
      hint: 'write "key: value" lines',
    }),
  );
  return undefined;
}
