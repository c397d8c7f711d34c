/**
 * Atoms name one version of one recipe: `category/name-version`, with
 * Gentoo's version syntax (`1.22.1`, `1.3-r1`, `2.0_rc1`, `1.1.1w`).
 */

export interface Atom {
  category: string;
  name: string;
  /** The full version, revision included: "1.3-r1". */
  version: string;
}

const CATEGORY = /^[A-Za-z0-9_][A-Za-z0-9+_.-]*$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9+_-]*$/;
export const VERSION = /^\d+(?:\.\d+)*[a-z]?(?:_(?:alpha|beta|pre|rc|p)\d*)*(?:-r\d+)?$/;
/** A name may not end in something that reads as a version ("foo-1"). */
const NAME_ENDS_IN_VERSION = /-\d+(?:\.\d+)*[a-z]?(?:_(?:alpha|beta|pre|rc|p)\d*)*(?:-r\d+)?$/;

export type AtomResult = { ok: true; atom: Atom } | { ok: false; reason: string };

export function tryParseAtom(text: string): AtomResult {
  const slash = text.indexOf('/');
  if (slash < 0 || text.indexOf('/', slash + 1) >= 0) {
    return { ok: false, reason: 'an atom is category/name-version, with exactly one "/"' };
  }
  const category = text.slice(0, slash);
  const rest = text.slice(slash + 1);
  if (!CATEGORY.test(category)) return { ok: false, reason: `"${category}" is not a valid category` };
  // The version starts at the first "-<digit>" whose remainder is a whole version.
  for (let i = rest.indexOf('-'); i >= 0; i = rest.indexOf('-', i + 1)) {
    const name = rest.slice(0, i);
    const version = rest.slice(i + 1);
    if (VERSION.test(version) && NAME.test(name) && !NAME_ENDS_IN_VERSION.test(name)) {
      return { ok: true, atom: { category, name, version } };
    }
  }
  return { ok: false, reason: `"${rest}" does not end in -<version> (e.g. hello-1.0, zlib-1.3-r1)` };
}

export function formatAtom(atom: Atom): string {
  return `${atom.category}/${atom.name}-${atom.version}`;
}

export function isValidName(name: string): boolean {
  return NAME.test(name) && !NAME_ENDS_IN_VERSION.test(name);
}

/**
 * Compare Gentoo versions (for listing candidates in order): numeric
 * components, then letter, then suffixes (_alpha < _beta < _pre < _rc < none < _p), then revision.
 */
export function compareVersions(a: string, b: string): number {
  const x = versionParts(a);
  const y = versionParts(b);
  return (
    compareNumbers(x.numbers, y.numbers) ||
    Math.sign(x.letter - y.letter) ||
    compareLists(x.suffixes, y.suffixes, SUFFIX_NONE) ||
    Math.sign(x.revision - y.revision)
  );
}

/**
 * PMS 3.3: the first component compares as an integer; a later one with a
 * leading zero compares as a string with trailing zeros stripped (1.01 < 1.1).
 */
function compareNumbers(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === undefined ? (y === undefined ? 0 : -1) : 1;
    let d: number;
    if (i > 0 && (x.startsWith('0') || y.startsWith('0'))) {
      const xs = x.replace(/0+$/, '');
      const ys = y.replace(/0+$/, '');
      d = xs < ys ? -1 : xs > ys ? 1 : 0;
    } else {
      d = Math.sign(Number(x) - Number(y));
    }
    if (d !== 0) return d;
  }
  return 0;
}

const SUFFIX_NONE = 50;
const SUFFIX_RANK: Record<string, number> = { alpha: 10, beta: 20, pre: 30, rc: 40, p: 60 };

function versionParts(version: string): {
  numbers: string[];
  letter: number;
  suffixes: number[];
  revision: number;
} {
  const m = /^([\d.]+)([a-z]?)((?:_[a-z]+\d*)*)(?:-r(\d+))?$/.exec(version);
  if (!m) return { numbers: [], letter: 0, suffixes: [], revision: 0 };
  const suffixes: number[] = [];
  for (const s of m[3]!.split('_').filter(Boolean)) {
    const sm = /^([a-z]+)(\d*)$/.exec(s)!;
    suffixes.push(SUFFIX_RANK[sm[1]!] ?? SUFFIX_NONE, Number(sm[2] || 0));
  }
  return {
    numbers: m[1]!.split('.'),
    letter: m[2] ? m[2].charCodeAt(0) : 0,
    suffixes,
    revision: Number(m[4] ?? 0),
  };
}

function compareLists(a: number[], b: number[], missing: number): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? missing) - (b[i] ?? missing);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
