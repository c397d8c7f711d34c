/**
 * Check a value read from YAML against a zod schema and turn every issue into
 * a BuilditError at the exact file:line:col, with a hint. Unknown keys get a
 * "did you mean" computed from the keys the schema knows at that place.
 */
import type { z } from 'zod';
import { BuilditError, type Problems } from '../errors.ts';
import { didYouMean } from '../util/suggest.ts';
import type { Path, PathKey, YamlFile } from './yaml.ts';

/** Extra fields a schema's custom issue may carry: `params: { code, hint }`. */
export interface IssueParams {
  code?: string;
  hint?: string;
  /** Point at the key rather than its value. */
  at?: 'key';
}

/**
 * Validate `value` (found at `path` in `yaml`) against `schema`. Problems are
 * added to `problems`; returns the parsed value, or undefined when invalid.
 */
export function validate<S extends z.ZodType>(
  yaml: YamlFile,
  schema: S,
  value: unknown,
  path: Path,
  problems: Problems,
): z.output<S> | undefined {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    for (const error of issueToErrors(yaml, schema, issue, path)) problems.add(error);
  }
  return undefined;
}

type Issue = z.core.$ZodIssue;

function issueToErrors(yaml: YamlFile, schema: z.ZodType, issue: Issue, base: Path): BuilditError[] {
  const rel = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k)) as PathKey[];
  const path = [...base, ...rel];
  const where = describePath(path);
  const custom = (issue as { params?: IssueParams }).params ?? {};
  const ownMessage = issue.message && !issue.message.startsWith('Invalid') ? issue.message : undefined;

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, rel);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        return new BuilditError(
          'BUILDIT_SCHEMA_UNKNOWN_KEY',
          `${where ? `${where}: ` : ''}unknown key "${key}"`,
          {
            location: yaml.locate([...path, key], 'key'),
            hint: guess ? `did you mean "${guess}"?` : `known keys here: ${known.join(', ')}`,
          },
        );
      });
    }
    case 'invalid_type': {
      const input = (issue as { input?: unknown }).input;
      if (input === undefined) {
        const key = path[path.length - 1];
        return [
          new BuilditError(
            'BUILDIT_SCHEMA_MISSING',
            `${describePath(path.slice(0, -1)) || 'document'}: missing required key "${String(key)}"`,
            {
              location: yaml.locate(path.slice(0, -1)),
              hint: custom.hint ?? `add "${String(key)}:"`,
            },
          ),
        ];
      }
      const expected = ownMessage ?? `expected ${article(issue.expected)}`;
      return [
        new BuilditError(
          'BUILDIT_SCHEMA_TYPE',
          `${where ? `${where}: ` : ''}${expected}, got ${kindOf(input)}`,
          {
            location: yaml.locate(path),
            hint: custom.hint ?? typeHint(issue.expected),
          },
        ),
      ];
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      return [
        new BuilditError(
          custom.code ?? 'BUILDIT_SCHEMA_VALUE',
          `${where ? `${where}: ` : ''}bad key: ${inner?.message ?? issue.message}`,
          {
            location: yaml.locate(path, 'key'),
            hint: inner ? valueHint(inner).hint : 'rename the key',
          },
        ),
      ];
    }
    default: {
      const message = ownMessage ?? defaultMessage(issue);
      return [
        new BuilditError(custom.code ?? 'BUILDIT_SCHEMA_VALUE', `${where ? `${where}: ` : ''}${message}`, {
          location: yaml.locate(path, custom.at ?? 'value'),
          ...(custom.hint ? { hint: custom.hint } : valueHint(issue)),
        }),
      ];
    }
  }
}

function defaultMessage(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array' ? `needs at least ${String(issue.minimum)} item(s)` : 'is too short';
    case 'too_big':
      return 'is too large';
    default:
      return issue.message;
  }
}

function valueHint(issue: Issue): { hint: string } {
  if (issue.code === 'invalid_value') return { hint: `allowed: ${issue.values.map(String).join(', ')}` };
  const message = issue.message;
  if (message.startsWith('expected ')) return { hint: `write ${message.slice('expected '.length)}` };
  return { hint: 'fix the value to match the format (see docs/decisions.md)' };
}

/** `[2, 'package', 'path']` → `step 3: package.path` (only container.yaml is a list at the top). */
export function describePath(path: Path): string {
  if (typeof path[0] === 'number') {
    const rest = describePath(path.slice(1));
    return `step ${path[0] + 1}${rest ? ` ${rest}` : ''}`;
  }
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${key}` : key;
  }
  return out;
}

function article(expected: string): string {
  const words: Record<string, string> = {
    string: 'a string',
    boolean: 'true or false',
    array: 'a list',
    object: 'a mapping',
    record: 'a mapping',
    number: 'a number',
  };
  return words[expected] ?? expected;
}

function typeHint(expected: string): string {
  if (expected === 'array') return 'write a YAML list: one "- item" per line, or [a, b]';
  if (expected === 'object' || expected === 'record')
    return 'write a YAML mapping: "key: value" lines, indented under this key';
  if (expected === 'string') return 'quote the value if YAML reads it as something else';
  if (expected === 'boolean') return 'write true or false';
  return 'see the format in docs (README "A tour of the formats")';
}

export function kindOf(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return `a boolean (${String(value)})`;
  if (typeof value === 'string')
    return `a string ("${value.length > 40 ? `${value.slice(0, 40)}…` : value}")`;
  return typeof value;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** The keys an object schema accepts at `path` below `schema` (for did-you-mean). */
export function knownKeys(schema: z.ZodType, path: readonly PathKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  let i = 0;
  while (current) {
    const def = defOf(current);
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe') current = def.in;
    else if (i === path.length) return def.shape ? Object.keys(def.shape) : [];
    else if (def.type === 'object') current = def.shape?.[String(path[i++])];
    else if (def.type === 'array' || def.type === 'record') {
      current = def.type === 'array' ? def.element : def.valueType;
      i++;
    } else return [];
  }
  return [];
}
