/**
 * Handlebars templates, as SPEC §6 defines them for buildit:
 *  - strict: a variable the context lacks is an error naming it and its line;
 *  - `{{ x }}` inserts x escaped for a JSON string (not HTML-escaped);
 *  - `{{{ x }}}` inserts raw text; `{{json x}}` inserts x as a JSON value.
 *
 * The escaping is done by rewriting the parsed template, not by patching
 * Handlebars' global escapeExpression, so nothing else in the process changes.
 */
import Handlebars from 'handlebars';
import { BuilditError, type SourceLocation } from '../errors.ts';

type HbNode = { type: string; loc?: { start: { line: number; column: number } } } & Record<string, unknown>;
type PathNode = HbNode & {
  type: 'PathExpression';
  original: string;
  parts: string[];
  data: boolean;
  depth: number;
};

const JSON_STRING = '__buildit_json_string';
/** Block helpers that change the context: paths inside them are checked by Handlebars' own strict mode. */
const CONTEXT_BLOCKS = new Set(['each', 'with']);

/** Thrown by the JSON-string helper: a variable that resolved to nothing, with where it is written. */
class UnknownVariable extends Error {
  constructor(
    readonly variable: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(`unknown variable "${variable}"`);
  }
}

const hb = Handlebars.create();
// Handlebars' strict mode does not check helper arguments, and `{{ x }}` is a
// helper call after rewriteForJson: the helper itself refuses a missing value
// (inside {{#each}} and {{#with}} too, and for a missing property).
hb.registerHelper(JSON_STRING, (value: unknown, ...rest: unknown[]) => {
  const [variable, line, col] = rest;
  if (value === undefined && typeof variable === 'string' && variable) {
    throw new UnknownVariable(variable, Number(line), Number(col));
  }
  return JSON.stringify(String(value ?? '')).slice(1, -1);
});
hb.registerHelper('json', (value: unknown) => JSON.stringify(value ?? null));

export type TemplateMode = 'json' | 'text';

export interface TemplateOrigin {
  /** Where the template text starts (its first line and column) in the user's file. */
  location: SourceLocation;
  /** The file column that the template's second and later lines start at. */
  continuationCol?: number;
  /** What the template is, for messages: "image content", "vars.name". */
  what: string;
}

/**
 * Render a template against vars. In 'json' mode `{{ x }}` is escaped for a
 * JSON string; in 'text' mode it inserts the value as is.
 */
export function renderTemplate(
  source: string,
  vars: Readonly<Record<string, unknown>>,
  mode: TemplateMode,
  origin: TemplateOrigin,
): string {
  let ast: HbNode;
  try {
    ast = hb.parse(source) as unknown as HbNode;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const line = /on line (\d+)/.exec(message)?.[1];
    throw new BuilditError('BUILDIT_TEMPLATE_SYNTAX', `${origin.what}: template syntax error`, {
      location: templateLine(origin, line ? Number(line) : 1),
      hint: message.split('\n').slice(1).join('\n') || 'check the {{ }} pairs',
    });
  }
  checkVariables(ast, vars, origin);
  if (mode === 'json') rewriteForJson(ast);
  try {
    const compiled = hb.compile(ast as unknown as hbspec, { strict: true, noEscape: mode === 'text' });
    return compiled({ ...vars });
  } catch (error) {
    if (error instanceof UnknownVariable) {
      throw new BuilditError(
        'BUILDIT_TEMPLATE_VARIABLE',
        `${origin.what}: unknown variable "${error.variable}"`,
        {
          location: templateLine(origin, error.line, error.col),
          hint: knownVarsHint(vars),
        },
      );
    }
    const e = error as { message?: string; lineNumber?: number };
    const name = /"([^"]+)" not defined/.exec(e.message ?? '')?.[1];
    throw new BuilditError(
      'BUILDIT_TEMPLATE_VARIABLE',
      name ? `${origin.what}: unknown variable "${name}"` : `${origin.what}: ${e.message ?? String(error)}`,
      { location: templateLine(origin, e.lineNumber ?? 1), hint: knownVarsHint(vars) },
    );
  }
}

type hbspec = Parameters<typeof Handlebars.compile>[0];

/** Map a line inside the template to a line in the user's file. */
export function templateLine(origin: TemplateOrigin, line: number, col?: number): SourceLocation {
  const start = origin.location.line ?? 1;
  const base = line === 1 ? (origin.location.col ?? 1) : (origin.continuationCol ?? 1);
  return {
    file: origin.location.file,
    line: start + line - 1,
    ...(col === undefined ? {} : { col: base + col - 1 }),
  };
}

function knownVarsHint(vars: Readonly<Record<string, unknown>>): string {
  const names = Object.keys(vars).sort();
  return names.length ? `known variables: ${names.join(', ')}` : 'no variables are defined: add a vars step';
}

function checkVariables(
  node: unknown,
  vars: Readonly<Record<string, unknown>>,
  origin: TemplateOrigin,
): void {
  visit(node as HbNode, (path) => {
    if (path.data || path.depth > 0 || path.parts.length === 0 || path.original === 'this') return;
    const head = path.parts[0]!;
    if (!Object.hasOwn(vars, head)) {
      throw new BuilditError('BUILDIT_TEMPLATE_VARIABLE', `${origin.what}: unknown variable "${head}"`, {
        location: templateLine(origin, path.loc?.start.line ?? 1, (path.loc?.start.column ?? 0) + 1),
        hint: knownVarsHint(vars),
      });
    }
  });
}

/** Calls fn for every variable reference (not helper names) outside context-changing blocks. */
function visit(node: HbNode | undefined, fn: (path: PathNode) => void): void {
  if (!node || typeof node !== 'object') return;
  switch (node.type) {
    case 'Program':
      for (const child of node['body'] as HbNode[]) visit(child, fn);
      return;
    case 'MustacheStatement':
    case 'SubExpression':
    case 'BlockStatement': {
      const path = node['path'] as HbNode;
      const params = node['params'] as HbNode[];
      const hash = node['hash'] as { pairs: { value: HbNode }[] } | undefined;
      const isHelper = params.length > 0 || hash !== undefined || node.type !== 'MustacheStatement';
      if (path.type === 'PathExpression' && !isHelper) fn(path as PathNode);
      for (const p of params) visitExpression(p, fn);
      for (const pair of hash?.pairs ?? []) visitExpression(pair.value, fn);
      if (node.type === 'BlockStatement') {
        const changesContext = CONTEXT_BLOCKS.has((path as PathNode).original);
        if (!changesContext) visit(node['program'] as HbNode, fn);
        visit(node['inverse'] as HbNode | undefined, fn);
      }
      return;
    }
    default:
      return;
  }
}

function visitExpression(node: HbNode, fn: (path: PathNode) => void): void {
  if (node.type === 'PathExpression') fn(node as PathNode);
  else if (node.type === 'SubExpression') visit(node, fn);
}

/** `{{ x }}` → `{{{ __buildit_json_string x }}}`; `{{json x}}` → unescaped. */
function rewriteForJson(node: HbNode | undefined): void {
  if (!node || typeof node !== 'object') return;
  if (node.type === 'Program') for (const child of node['body'] as HbNode[]) rewriteForJson(child);
  if (node.type === 'BlockStatement') {
    rewriteForJson(node['program'] as HbNode);
    rewriteForJson(node['inverse'] as HbNode | undefined);
  }
  if (node.type !== 'MustacheStatement' || node['escaped'] !== true) return;
  const path = node['path'] as HbNode;
  const params = node['params'] as HbNode[];
  if (params.length === 0 && path.type === 'PathExpression') {
    const start = path.loc?.start ?? { line: 1, column: 0 };
    const literal = (type: string, value: string | number) => ({
      type,
      value,
      original: value,
      loc: path.loc,
    });
    // The name and position go along so that a missing value is reported where it is written.
    node['params'] = [
      path,
      literal('StringLiteral', (path as PathNode).original),
      literal('NumberLiteral', start.line),
      literal('NumberLiteral', start.column + 1),
    ];
    node['path'] = jsonStringHelper(path.loc);
  } else if (path.type !== 'PathExpression' || (path as PathNode).original !== 'json') {
    // Any other helper's output is still a string to be placed inside JSON.
    node['params'] = [{ type: 'SubExpression', path, params, hash: node['hash'], loc: node.loc }];
    node['hash'] = undefined;
    node['path'] = jsonStringHelper(path.loc);
  }
  node['escaped'] = false;
}

/** The path node naming the JSON-string helper. */
function jsonStringHelper(loc: HbNode['loc']): HbNode {
  return { type: 'PathExpression', data: false, depth: 0, parts: [JSON_STRING], original: JSON_STRING, loc };
}
