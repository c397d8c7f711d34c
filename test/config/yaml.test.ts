import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseYaml } from '../../src/config/yaml.ts';
import { errorOf, errorsOf, plain } from './errors.ts';

const FILE = 'dir/file.yaml';
const valueOf = (text: string): unknown => parseYaml(text, FILE).value;
const fieldV = (text: string): unknown => (valueOf(text) as Record<string, unknown>)['v'];

test('plain scalars YAML would read as numbers keep their source text', () => {
  for (const [text, expected] of [
    ['v: 1.10', '1.10'],
    ['v: 1.0', '1.0'],
    ['v: 1.22.1', '1.22.1'],
    ['v: 0644', '0644'],
    ['v: 0o644', '0o644'],
    ['v: 644', '644'],
    ['v: 5', '5'],
    ['v: -1', '-1'],
    ['v: +5', '+5'],
    ['v: 1e3', '1e3'],
    ['v: 0x1F', '0x1F'],
    ['v: .inf', '.inf'],
    ['v: !!str 1.10', '1.10'],
  ] as const) {
    assert.equal(fieldV(text), expected, text);
  }
});

test('booleans follow the YAML 1.2 core schema, not 1.1', () => {
  for (const [text, expected] of [
    ['v: true', true],
    ['v: True', true],
    ['v: TRUE', true],
    ['v: false', false],
    ['v: False', false],
    ['v: FALSE', false],
    ['v: yes', 'yes'],
    ['v: no', 'no'],
    ['v: on', 'on'],
    ['v: off', 'off'],
    ['v: y', 'y'],
    ['v: "true"', 'true'],
  ] as const) {
    assert.equal(fieldV(text), expected, text);
  }
});

test('quoted scalars stay strings and nulls are null', () => {
  for (const [text, expected] of [
    ['v: "5"', '5'],
    ["v: '1.10'", '1.10'],
    ['v: "0644"', '0644'],
    ['v: null', null],
    ['v: Null', null],
    ['v: ~', null],
    ['v:', null],
    ['v: "null"', 'null'],
  ] as const) {
    assert.equal(fieldV(text), expected, text);
  }
});

test('collections convert to plain lists and mappings, recursively', () => {
  assert.deepEqual(plain(valueOf('v: [1.10, true, yes, "x", ~]\nw: { a: 0644, b: { c: 1.0 } }\n')), {
    v: ['1.10', true, 'yes', 'x', null],
    w: { a: '0644', b: { c: '1.0' } },
  });
  assert.deepEqual(valueOf('- a\n- 1.0\n- - 2\n'), ['a', '1.0', ['2']]);
  assert.equal(valueOf('just text'), 'just text');
});

test('an empty or comment-only document is null', () => {
  assert.equal(valueOf(''), null);
  assert.equal(valueOf('# nothing here\n'), null);
});

test('keys are their source text', () => {
  const value = valueOf('1.10: a\ntrue: b\nyes: c\n0644: d\n"quoted": e\n') as Record<string, unknown>;
  assert.deepEqual(Object.keys(value), ['1.10', 'true', 'yes', '0644', 'quoted']);
  assert.equal(value['1.10'], 'a');
});

test('a __proto__ key is an ordinary key and pollutes no prototype', () => {
  const value = valueOf('__proto__: { polluted: yes }\nconstructor: 2\n') as Record<string, unknown>;
  assert.ok(Object.hasOwn(value, '__proto__'));
  assert.deepEqual(plain(value['__proto__']), { polluted: 'yes' });
  assert.equal(value['constructor'], '2');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('duplicate keys are BUILDIT_YAML_DUPLICATE_KEY at the repeated key', () => {
  for (const [text, line, col, key] of [
    ['a: 1\nb: 2\na: 3\n', 3, 1, 'a'],
    ['top:\n  x: 1\n  y: 2\n  x: 3\n', 4, 3, 'x'],
    ['{a: 1, a: 2}\n', 1, 8, 'a'],
    ['- name: p\n  v: 1\n- v: 2\n  v: 3\n', 4, 3, 'v'],
  ] as const) {
    const error = errorOf(() => parseYaml(text, FILE));
    assert.equal(error.code, 'BUILDIT_YAML_DUPLICATE_KEY', text);
    assert.deepEqual(error.location, { file: FILE, line, col }, text);
    assert.equal(error.message, `duplicate key "${key}"`, text);
    assert.equal(error.exitCode, 2);
    assert.ok(error.hint);
  }
});

test('every duplicate key in a document is reported at once', () => {
  const errors = errorsOf(() => parseYaml('a: 1\na: 2\nb: 1\nb: 2\n', FILE));
  assert.deepEqual(
    errors.map((e) => [e.code, e.location?.line]),
    [
      ['BUILDIT_YAML_DUPLICATE_KEY', 2],
      ['BUILDIT_YAML_DUPLICATE_KEY', 4],
    ],
  );
});

test('a quoted duplicate key is named once, without its quotes doubled', () => {
  const error = errorOf(() => parseYaml('a: 1\n"a": 2\n', FILE));
  assert.equal(error.code, 'BUILDIT_YAML_DUPLICATE_KEY');
  assert.deepEqual(error.location, { file: FILE, line: 2, col: 1 });
  assert.equal(error.message, 'duplicate key "a"');
});

test('keys that are the same text once read are duplicates, whatever YAML typed them', () => {
  // `1` (an int) and "1" (a string) both become the key "1": keeping only the last would lose a value silently.
  for (const text of ['1: a\n"1": b\n', 'true: a\n"true": b\n']) {
    const error = errorOf(() => parseYaml(text, FILE));
    assert.equal(error.code, 'BUILDIT_YAML_DUPLICATE_KEY', text);
    assert.equal(error.location?.line, 2, text);
  }
});

test('version-like keys that differ as text are different keys', () => {
  // Keys keep their source text, so 1.10 and 1.1 are two keys, not one number written twice.
  assert.deepEqual(plain(valueOf('1.10: a\n1.1: b\n')), { '1.10': 'a', '1.1': 'b' });
});

test('malformed YAML is BUILDIT_YAML_SYNTAX at the line of the problem', () => {
  for (const [text, line] of [
    ['a: [1, 2', 1],
    ['a: "x', 1],
    ['a:\n  - b\n c: 1\n', 3],
    ['a: b: c\n', 1],
    ['\tfoo: 1\n', 1],
    ['a: 1\n---\nb: 2\n', 2],
  ] as const) {
    const error = errorOf(() => parseYaml(text, FILE));
    assert.equal(error.code, 'BUILDIT_YAML_SYNTAX', text);
    assert.equal(error.location?.file, FILE, text);
    assert.equal(error.location?.line, line, text);
    assert.match(error.message, /^malformed YAML: /, text);
    assert.ok(error.hint, text);
  }
});

test('several syntax errors are reported together as BuilditErrors', () => {
  const errors = errorsOf(() => parseYaml('a: 1\nb: [1,\nc: 3\nd: "x', FILE));
  assert.ok(errors.length >= 2, `got ${errors.length}`);
  assert.ok(errors.every((e) => e.code === 'BUILDIT_YAML_SYNTAX'));
  assert.equal(errors.at(-1)!.location?.line, 4);
});

test('aliases are expanded', () => {
  assert.deepEqual(plain(valueOf('a: &x [1.10, { k: v }]\nb: *x\n')), {
    a: ['1.10', { k: 'v' }],
    b: ['1.10', { k: 'v' }],
  });
});

test('an alias to an anchor that does not exist is an error, not null', () => {
  const error = errorOf(() => parseYaml('a: 1\nb: *nope\n', FILE));
  assert.equal(error.code, 'BUILDIT_YAML_SYNTAX');
  assert.equal(error.location?.line, 2);
});

test('a "billion laughs" document is rejected after a bounded number of alias expansions', () => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
  }
  const error = errorOf(() => parseYaml(lines.join('\n'), FILE));
  assert.equal(error.code, 'BUILDIT_YAML_SYNTAX');
  assert.match(error.message, /too many alias expansions/);
  assert.equal(error.location?.file, FILE);
});

test('a self-referencing alias is rejected, not expanded forever', () => {
  for (const text of ['a: &a [*a]\n', 'a: &a { x: *a }\n']) {
    assert.equal(errorOf(() => parseYaml(text, FILE)).code, 'BUILDIT_YAML_SYNTAX', text);
  }
});

test('mapping keys that are not scalars (or are null) are rejected', () => {
  for (const [text, line, col] of [
    ['? [a, b]\n: x\n', 1, 3],
    ['? { a: 1 }\n: x\n', 1, 3],
    ['~: x\n', 1, 1],
  ] as const) {
    const error = errorOf(() => parseYaml(text, FILE));
    assert.equal(error.code, 'BUILDIT_YAML_SYNTAX', text);
    assert.deepEqual(error.location, { file: FILE, line, col }, text);
  }
});

const NESTED = `top:
  list:
    - name: a
      v: 1
    - name: b
  content: |
    line1
    line2
  empty:
  folded: >-
    x
`;

test('locate finds keys and values, in nested lists too', () => {
  const yaml = parseYaml(NESTED, FILE);
  for (const [path, part, line, col] of [
    [['top'], 'key', 1, 1],
    [['top', 'list'], 'key', 2, 3],
    [['top', 'list'], 'value', 3, 5],
    [['top', 'list', 0], 'value', 3, 7],
    [['top', 'list', 0, 'name'], 'key', 3, 7],
    [['top', 'list', 0, 'name'], 'value', 3, 13],
    [['top', 'list', 0, 'v'], 'key', 4, 7],
    [['top', 'list', 0, 'v'], 'value', 4, 10],
    [['top', 'list', 1, 'name'], 'key', 5, 7],
    [['top', 'list', 1, 'name'], 'value', 5, 13],
    [['top', 'content'], 'key', 6, 3],
    [['top', 'folded'], 'key', 10, 3],
  ] as const) {
    assert.deepEqual(yaml.locate(path, part), { file: FILE, line, col }, `${JSON.stringify(path)} ${part}`);
  }
});

test('a block scalar value is located at its first content line', () => {
  const yaml = parseYaml(NESTED, FILE);
  assert.equal(yaml.locate(['top', 'content']).line, 7);
  assert.equal(yaml.locate(['top', 'folded']).line, 11);
  const list = parseYaml('- |\n  hello\n  {{ x }}\n- x: |-\n    a\n', FILE);
  assert.equal(list.locate([0]).line, 2);
  assert.equal(list.locate([1, 'x']).line, 5);
  // A leading empty line is part of the text, so the text (line 1 = the empty line) starts right after `|`.
  const blank = parseYaml('a: |\n\n  second\n', FILE);
  assert.equal((blank.value as Record<string, unknown>)['a'], '\nsecond\n');
  assert.equal(blank.locate(['a']).line, 2);
});

test('a key written without a value is located at its key', () => {
  const yaml = parseYaml(NESTED, FILE);
  assert.deepEqual(yaml.locate(['top', 'empty']), { file: FILE, line: 9, col: 3 });
});

test('locate falls back to the nearest written ancestor', () => {
  const yaml = parseYaml(NESTED, FILE);
  assert.deepEqual(yaml.locate(['top', 'missing']), { file: FILE, line: 2, col: 3 });
  assert.deepEqual(yaml.locate(['top', 'missing'], 'key'), { file: FILE, line: 2, col: 3 });
  assert.deepEqual(yaml.locate(['top', 'list', 7, 'name']), { file: FILE, line: 3, col: 5 });
  assert.deepEqual(yaml.locate(['nothing', 'at', 'all']), { file: FILE, line: 1, col: 1 });
  assert.deepEqual(yaml.locate([]), { file: FILE, line: 1, col: 1 });
  assert.deepEqual(parseYaml('', FILE).locate(['a']), { file: FILE, line: 1, col: 1 });
});
