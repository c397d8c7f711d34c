import assert from 'node:assert/strict';
import { test } from 'node:test';
import Handlebars from 'handlebars';
import { BuilditError } from '../../src/errors.ts';
import { renderTemplate, type TemplateMode } from '../../src/template/render.ts';

/** The template starts on line 20 of container.yaml. */
const ORIGIN = { location: { file: 'ctr/container.yaml', line: 20 }, what: 'image content' };
const VARS = { name: 'hello', version: '1.0-p1', n: 5, list: ['a', 'b'], obj: { k: 'v"' } };

const render = (source: string, vars: Record<string, unknown> = VARS, mode: TemplateMode = 'json') =>
  renderTemplate(source, vars, mode, ORIGIN);

/** The BuilditError rendering throws. */
function failure(source: string, vars: Record<string, unknown> = VARS, mode: TemplateMode = 'json') {
  try {
    render(source, vars, mode);
  } catch (error) {
    assert.ok(error instanceof BuilditError, `not a BuilditError: ${String(error)}`);
    return error;
  }
  return assert.fail(`rendered without an error: ${source}`);
}

test('{{ x }} in json mode escapes for a JSON string, and only that', () => {
  for (const [value, inserted] of [
    ['plain', 'plain'],
    ['say "hi"', 'say \\"hi\\"'],
    ['back\\slash', 'back\\\\slash'],
    ['two\nlines\r\n', 'two\\nlines\\r\\n'],
    ['tab\there', 'tab\\there'],
    ['\u0001\u001f', '\\u0001\\u001f'],
    ["<b>&amp;</b> 'q' `t` =", "<b>&amp;</b> 'q' `t` ="],
    ['€ 😀', '€ 😀'],
    ['', ''],
  ] as const) {
    const out = render('{"v": "{{ v }}"}', { v: value });
    assert.equal(out, `{"v": "${inserted}"}`, JSON.stringify(value));
    assert.equal((JSON.parse(out) as { v: string }).v, value);
  }
});

test('{{ x }} of a number or boolean inserts its text', () => {
  assert.equal(render('{{ n }}|{{ b }}', { n: 5, b: true }), '5|true');
});

test('{{{ x }}} inserts raw text in json mode', () => {
  assert.equal(render('{{{ v }}}', { v: 'a "b" \\ <&>\n' }), 'a "b" \\ <&>\n');
  assert.equal(render('{"Cmd": {{{ cmd }}} }', { cmd: '["/bin/sh", "-c"]' }), '{"Cmd": ["/bin/sh", "-c"] }');
});

test('{{json x}} inserts a JSON value', () => {
  for (const [value, inserted] of [
    ['a "b"\n', '"a \\"b\\"\\n"'],
    [5, '5'],
    [true, 'true'],
    [['a', 'b'], '["a","b"]'],
    [{ k: 'v"' }, '{"k":"v\\""}'],
    [null, 'null'],
  ] as const) {
    assert.equal(render('{{json v}}', { v: value }), inserted, JSON.stringify(value));
  }
});

test('helpers inside json mode still have their output escaped for a JSON string', () => {
  assert.equal(render('"{{lookup obj "k"}}"'), '"v\\""');
  assert.equal(render('{{#each list}}"{{ this }}",{{/each}}', { list: ['a"', 'b'] }), '"a\\"","b",');
  assert.equal(render('{{#if name}}"{{ name }}"{{else}}none{{/if}}'), '"hello"');
});

test('text mode inserts values as they are', () => {
  for (const source of ['{{ v }}', '{{{ v }}}']) {
    assert.equal(render(source, { v: 'a "b" \\ <&>\n' }, 'text'), 'a "b" \\ <&>\n', source);
  }
  assert.equal(render('{{ name }}-{{ version }}', VARS, 'text'), 'hello-1.0-p1');
});

test('rendering leaves the global Handlebars escaping alone', () => {
  render('"{{ v }}"', { v: '<&>' });
  assert.equal(Handlebars.compile('{{ v }}')({ v: '<&>' }), '&lt;&amp;&gt;');
});

test('an unknown variable is BUILDIT_TEMPLATE_VARIABLE naming it, at origin line + template line - 1', () => {
  for (const [source, name, templateLine] of [
    ['{{ nope }}', 'nope', 1],
    ['{\n  "a": "{{ name }}",\n  "b": "{{ nmae }}"\n}', 'nmae', 3],
    ['a\nb\n  {{ x.y }}', 'x', 3],
    ['{{{ raw }}}', 'raw', 1],
    ['{{json missing}}', 'missing', 1],
    ['{{#if nope}}x{{/if}}', 'nope', 1],
    ['{{#unless nope}}x{{/unless}}', 'nope', 1],
    ['line 1\n{{#if name}}\n  {{ inside }}\n{{/if}}', 'inside', 3],
    ['{{#if name}}y{{else}}\n{{ other }}{{/if}}', 'other', 2],
    ['{{#each nope}}x{{/each}}', 'nope', 1],
    ['{{#if (json nope)}}x{{/if}}', 'nope', 1],
  ] as const) {
    for (const mode of ['json', 'text'] as const) {
      const error = failure(source, VARS, mode);
      assert.equal(error.code, 'BUILDIT_TEMPLATE_VARIABLE', `${mode} ${source}`);
      assert.match(
        error.message,
        new RegExp(`^image content: unknown variable "${name}"`),
        `${mode} ${source}`,
      );
      assert.equal(error.location?.file, 'ctr/container.yaml');
      assert.equal(error.location?.line, 20 + templateLine - 1, `${mode} ${source}`);
      assert.equal(error.hint, 'known variables: list, n, name, obj, version');
    }
  }
});

test('with no variables at all the hint says to add a vars step', () => {
  assert.match(failure('{{ name }}', {}).hint ?? '', /add a vars step/);
});

test('an unknown variable inside #each or #with is an error in json mode as in text mode', () => {
  const vars = { items: [{ a: '1' }], obj: { k: 'v' } };
  for (const source of ['{{#each items}}{{ nope }}{{/each}}', '{{#with obj}}\n{{ nope }}{{/with}}']) {
    for (const mode of ['text', 'json'] as const) {
      const error = failure(source, vars, mode);
      assert.equal(error.code, 'BUILDIT_TEMPLATE_VARIABLE', `${mode} ${source}`);
      assert.match(error.message, /"nope"/, `${mode} ${source}`);
    }
  }
  assert.equal(render('{{#each items}}{{ a }}{{/each}}|{{#with obj}}{{ k }}{{/with}}', vars), '1|v');
});

test('a missing property of a variable is an error in json mode as in text mode', () => {
  for (const mode of ['text', 'json'] as const) {
    const error = failure('{{ obj.missing }}', VARS, mode);
    assert.equal(error.code, 'BUILDIT_TEMPLATE_VARIABLE', mode);
    assert.match(error.message, /"(obj\.)?missing"/, mode);
  }
  assert.equal(render('"{{ obj.k }}"'), '"v\\""');
});

test('a template syntax error is BUILDIT_TEMPLATE_SYNTAX at its line', () => {
  for (const [source, templateLine] of [
    ['{{ ', 1],
    ['{{/if}}', 1],
    ['{{{ name }}', 1],
    ['a\n{{#if name}}\nx', 3],
    ['ok\nstill ok\n{{ name }', 3],
  ] as const) {
    for (const mode of ['json', 'text'] as const) {
      const error = failure(source, VARS, mode);
      assert.equal(error.code, 'BUILDIT_TEMPLATE_SYNTAX', `${mode} ${JSON.stringify(source)}`);
      assert.equal(error.message, 'image content: template syntax error');
      assert.deepEqual(error.location, { file: 'ctr/container.yaml', line: 20 + templateLine - 1 }, source);
      assert.ok(error.hint, source);
    }
  }
});

test('comments, data variables and block helpers render', () => {
  assert.equal(render('{{! a comment }}{{#each list}}{{@index}}={{ this }};{{/each}}'), '0=a;1=b;');
  assert.equal(render('{{#unless n}}no{{else}}yes{{/unless}}'), 'yes');
});
