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

/** Where a scalar's text starts: its first line and column, and the column later lines start at. */
export interface TextOrigin {
  location: SourceLocation;
  continuationCol: number;
}

export class YamlFile {
  readonly file: string;
  readonly value: unknown;
  private readonly keys: Map<string, Position>;
  private readonly values: Map<string, Position>;
  private readonly texts: Map<string, { line: number; col: number; continuationCol: number }>;

  constructor(
    file: string,
    value: unknown,
    maps: {
      keys: Map<string, Position>;
      values: Map<string, Position>;
      texts: Map<string, { line: number; col: number; continuationCol: number }>;
    },
  ) {
    this.file = file;
    this.value = value;
    this.keys = maps.keys;
    this.values = maps.values;
    this.texts = maps.texts;
  }

  /** For templates: map a (line, col) inside a scalar's text back to the file. */
  textOrigin(path: Path): TextOrigin {
    const text = this.texts.get(pathId(path));
    if (!text) return { location: this.locate(path), continuationCol: 1 };
    return {
      location: { file: this.file, line: text.line, col: text.col },
      continuationCol: text.continuationCol,
    };
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
    // Keys are compared as the text we keep them as: `1:` and `"1":` clash, `1.10:` and `1.1:` do not.
    uniqueKeys: (a, b) => keyText(a) === keyText(b),
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
  const texts = new Map<string, { line: number; col: number; continuationCol: number }>();
  const lines = text.split('\n');
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
      const target = node.resolve(doc);
      if (!target) {
        throw new BuilditError('BUILDIT_YAML_SYNTAX', `alias *${node.source} names no anchor`, {
          location: { file, ...pos(node) },
          hint: `define &${node.source} before using *${node.source}`,
        });
      }
      return convert(target, path);
    }
    let here = pos(node as Node);
    if (here && isScalar(node)) {
      if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') {
        // The range starts at the `|` or `>` header; the text on the next line, after its indentation.
        const indent = /^ */.exec(lines[here.line] ?? '')![0].length + 1;
        here = { line: here.line + 1, col: indent };
        texts.set(pathId(path), { ...here, continuationCol: indent });
      } else {
        const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
        texts.set(pathId(path), { line: here.line, col: here.col + (quoted ? 1 : 0), continuationCol: 1 });
      }
    }
    if (here) values.set(pathId(path), here);
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'number' || typeof v === 'bigint') return keyText(node);
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
        const key = keyText(keyNode);
        const keyPos = pos(keyNode);
        if (keyPos) keys.set(pathId([...path, key]), keyPos);
        out[key] = convert(pair.value, [...path, key]);
        // `key:` with no value: point at the key, not past the end of its line.
        const empty =
          pair.value === null || (isScalar(pair.value) && pair.value.value === null && !pair.value.source);
        if (empty && keyPos) values.set(pathId([...path, key]), keyPos);
      }
      return out;
    }
    return node === null || node === undefined ? null : undefined;
  };

  const value = convert(doc.contents, []);
  return new YamlFile(file, value, { keys, values, texts });
}

/** A scalar as buildit keeps it: numbers as their source text, the rest as their value's text. */
function keyText(node: unknown): string {
  if (!isScalar(node)) return String(node);
  const v = node.value;
  if ((typeof v === 'number' || typeof v === 'bigint') && node.type === 'PLAIN' && node.source)
    return node.source;
  return String(v);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function keyAt(_doc: Document, offset: number, text: string): string {
  const rest = text.slice(offset).split('\n')[0] ?? '';
  const key = rest
    .split(':')[0]
    ?.trim()
    .replace(/^(["'])(.*)\1$/, '$2');
  return key ? `"${key}"` : '';
}
