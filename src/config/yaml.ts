/**
 * YAML → plain values, remembering where each value came from.
 *
 * Read as YAML 1.2 core schema with duplicate keys rejected. Plain scalars
 * that YAML would type as numbers are kept as their source text: `1.10`
 * stays "1.10" (a version, not 1.1) and `0644` stays "0644" (chmod digits).
 * Schemas that want a number accept such digit strings.
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node, type Document } from 'yaml';
import { BuilditError, Problems, type SourceLocation } from '../errors.ts';

export type PathKey = string | number;
export type Path = readonly PathKey[];

export interface Position {
  line: number;
  col: number;
}

/** Aliases are expanded; this bounds the expansion ("billion laughs"). */
const MAX_ALIAS_EXPANSIONS = 1000;

export class YamlFile {
  readonly file: string;
  readonly value: unknown;
  private readonly keys = new Map<string, Position>();
  private readonly values = new Map<string, Position>();

  constructor(file: string, value: unknown, keys: Map<string, Position>, values: Map<string, Position>) {
    this.file = file;
    this.value = value;
    this.keys = keys;
    this.values = values;
  }

  /**
   * Where the value at `path` (or its key, for map entries) is written. Falls
   * back to the nearest written ancestor, so a missing key points at its map.
   */
  locate(path: Path, part: 'key' | 'value' = 'value'): SourceLocation {
    for (let n = path.length; n >= 0; n--) {
      const id = pathId(path.slice(0, n));
      const pos =
        (part === 'key' && n === path.length ? this.keys.get(id) : undefined) ?? this.values.get(id);
      if (pos) return { file: this.file, line: pos.line, col: pos.col };
    }
    return { file: this.file, line: 1, col: 1 };
  }
}

function pathId(path: Path): string {
  return JSON.stringify(path);
}

/** Parse YAML text; every syntax problem is reported at once (exit 2). */
export function parseYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter,
  });
  const problems = new Problems();
  for (const error of doc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    const duplicate = error.code === 'DUPLICATE_KEY';
    problems.add(
      new BuilditError(
        duplicate ? 'BUILDIT_YAML_DUPLICATE_KEY' : 'BUILDIT_YAML_SYNTAX',
        duplicate
          ? `duplicate key ${keyAt(doc, error.pos[0], text)}`
          : `malformed YAML: ${firstLine(error.message)}`,
        {
          location: { file, line, col },
          hint: duplicate
            ? 'each key may appear once in a mapping; remove or merge the repeated one'
            : 'check the indentation and quoting on this line and the one before it',
        },
      ),
    );
  }
  problems.throwIfAny();

  const keys = new Map<string, Position>();
  const values = new Map<string, Position>();
  let expansions = 0;
  const pos = (node: Node | null | undefined): Position | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]) : undefined;

  const convert = (node: unknown, path: PathKey[]): unknown => {
    if (isAlias(node)) {
      if (++expansions > MAX_ALIAS_EXPANSIONS) {
        throw new BuilditError('BUILDIT_YAML_SYNTAX', 'too many alias expansions', {
          location: { file, ...pos(node) },
          hint: `YAML aliases may be expanded at most ${MAX_ALIAS_EXPANSIONS} times`,
        });
      }
      return convert(node.resolve(doc), path);
    }
    let here = pos(node as Node);
    // A block scalar's range starts at its `|` or `>` header; its text starts on the next line.
    if (here && isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')) {
      here = { line: here.line + 1, col: 1 };
    }
    if (here) values.set(pathId(path), here);
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'number' || typeof v === 'bigint')
        return node.type === 'PLAIN' && node.source ? node.source : String(v);
      return v;
    }
    if (isSeq(node)) return node.items.map((item, i) => convert(item, [...path, i]));
    if (isMap(node)) {
      const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === 'object') {
          throw new BuilditError('BUILDIT_YAML_SYNTAX', 'mapping keys must be plain strings', {
            location: { file, ...(pos(keyNode) ?? here) },
          });
        }
        const key = keyNode.type === 'PLAIN' && keyNode.source ? keyNode.source : String(keyNode.value);
        const keyPos = pos(keyNode);
        if (keyPos) keys.set(pathId([...path, key]), keyPos);
        out[key] = convert(pair.value, [...path, key]);
        // `key:` with no value: point at the key.
        if (pair.value === null && keyPos) values.set(pathId([...path, key]), keyPos);
      }
      return out;
    }
    return node === null || node === undefined ? null : undefined;
  };

  const value = convert(doc.contents, []);
  return new YamlFile(file, value, keys, values);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function keyAt(_doc: Document, offset: number, text: string): string {
  const rest = text.slice(offset).split('\n')[0] ?? '';
  const key = rest.split(':')[0]?.trim();
  return key ? `"${key}"` : '';
}
