import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersions, formatAtom, isValidName, tryParseAtom, VERSION } from '../../src/recipe/atom.ts';

test('tryParseAtom splits category/name-version at the version', () => {
  for (const [text, category, name, version] of [
    ['www-servers/nginx-1.22.1', 'www-servers', 'nginx', '1.22.1'],
    ['dev-libs/zlib-1.3-r1', 'dev-libs', 'zlib', '1.3-r1'],
    ['app-misc/foo-bar-2.0_rc1', 'app-misc', 'foo-bar', '2.0_rc1'],
    ['sys-libs/glibc-2.36', 'sys-libs', 'glibc', '2.36'],
    ['dev-libs/openssl-1.1.1w', 'dev-libs', 'openssl', '1.1.1w'],
    ['x11-libs/gtk+-3.24.0', 'x11-libs', 'gtk+', '3.24.0'],
    ['a/b-1', 'a', 'b', '1'],
    ['a/b-1.0_alpha_p2-r3', 'a', 'b', '1.0_alpha_p2-r3'],
    ['a/b-1.2.3a_rc1-r0', 'a', 'b', '1.2.3a_rc1-r0'],
    ['a/b_c-1', 'a', 'b_c', '1'],
    ['a/b-c1-1', 'a', 'b-c1', '1'],
    ['dev-perl/perl-Foo-Bar-1.0', 'dev-perl', 'perl-Foo-Bar', '1.0'],
    ['virtual.x/b-1', 'virtual.x', 'b', '1'],
  ] as const) {
    const result = tryParseAtom(text);
    assert.deepEqual(result, { ok: true, atom: { category, name, version } }, text);
  }
});

test('tryParseAtom rejects what is not category/name-version, with a reason', () => {
  for (const text of [
    'nginx',
    'nginx-1.0',
    'a/b',
    'a/b-',
    'a/b/c-1',
    '/b-1',
    '-a/b-1',
    'a/-b-1',
    'a/+b-1',
    // A name may not end in something that reads as a version (Gentoo PMS 3.1.2).
    'a/foo-1-2.3',
    'a/b-1c-1',
    'a/foo-bar-2-3',
    // Versions: digits with dots, one optional letter, known suffixes, -rN.
    'a/b-1.0-r',
    'a/b-1.0-r1-r2',
    'a/b-1_foo',
    'a/b-1.0A',
    'a/b-1.0ab',
    'a/b-1..2',
    'a/b-.1',
    'a/b-1.',
    'a/b-v1.0',
    'a/b-1 ',
    ' a/b-1',
  ]) {
    const result = tryParseAtom(text);
    assert.equal(result.ok, false, text);
    assert.ok(!result.ok && result.reason.length > 0, text);
  }
});

test('formatAtom is the inverse of tryParseAtom', () => {
  for (const text of [
    'www-servers/nginx-1.22.1',
    'dev-libs/zlib-1.3-r1',
    'app-misc/foo-bar-2.0_rc1',
    'x11-libs/gtk+-3.24.0',
    'dev-libs/openssl-1.1.1w',
  ]) {
    const result = tryParseAtom(text);
    assert.ok(result.ok, text);
    assert.equal(formatAtom(result.atom), text);
  }
  assert.equal(formatAtom({ category: 'sys-libs', name: 'zlib', version: '1.3' }), 'sys-libs/zlib-1.3');
});

test('isValidName: letters, digits, +, _ and -, not ending in -<version>', () => {
  for (const [name, valid] of [
    ['nginx', true],
    ['gtk+', true],
    ['foo-bar', true],
    ['perl-Foo-Bar', true],
    ['b-c1', true],
    ['foo-1', false],
    ['foo-1.2_rc1', false],
    ['foo-1-r1', false],
    ['+foo', false],
    ['-foo', false],
    ['foo/bar', false],
    ['', false],
  ] as const) {
    assert.equal(isValidName(name), valid, name);
  }
});

test('VERSION accepts Gentoo versions and nothing else', () => {
  for (const [version, valid] of [
    ['1', true],
    ['1.22.1', true],
    ['1.1.1w', true],
    ['2.0_rc1', true],
    ['1.0_alpha', true],
    ['1.0_p20240101', true],
    ['1.3-r1', true],
    ['1.0-p1', false],
    ['v1', false],
    ['1.0.', false],
    ['1.0_gamma1', false],
  ] as const) {
    assert.equal(VERSION.test(version), valid, version);
  }
});

/** Each row: a < b. */
const ASCENDING: readonly (readonly [string, string])[] = [
  ['1.2', '1.2.1'],
  ['1.2.1', '1.10'],
  ['1.2', '1.10'],
  ['1.9', '1.10'],
  ['1.0', '1.0.0'],
  ['1', '2'],
  ['2', '10'],
  ['1.0_alpha1', '1.0_beta'],
  ['1.0_alpha', '1.0_alpha1'],
  ['1.0_alpha1', '1.0_alpha2'],
  ['1.0_beta', '1.0_pre1'],
  ['1.0_pre1', '1.0_rc1'],
  ['1.0_beta', '1.0_rc1'],
  ['1.0_rc1', '1.0'],
  ['1.0', '1.0_p1'],
  ['1.0_p1', '1.0_p2'],
  ['1.0', '1.0-r1'],
  ['1.0-r1', '1.0-r2'],
  ['1.0-r9', '1.0-r10'],
  ['1.0-r1', '1.0_p1'],
  ['1.0_rc1-r3', '1.0'],
  ['1.1a', '1.1b'],
  ['1.1', '1.1a'],
  ['1.1z', '1.2'],
  ['1.0_alpha_beta', '1.0_alpha'],
  ['1.0_rc1', '1.0_rc1_p1'],
];

test('compareVersions orders Gentoo versions', () => {
  for (const [a, b] of ASCENDING) {
    assert.equal(compareVersions(a, b), -1, `${a} < ${b}`);
    assert.equal(compareVersions(b, a), 1, `${b} > ${a}`);
  }
});

test('compareVersions: equal versions compare 0', () => {
  for (const [a, b] of [
    ['1.22.1', '1.22.1'],
    ['1.0', '1.0-r0'],
    ['1.0_alpha', '1.0_alpha0'],
    ['01', '1'],
  ] as const) {
    assert.equal(compareVersions(a, b), 0, `${a} = ${b}`);
    assert.equal(compareVersions(b, a), 0, `${b} = ${a}`);
  }
});

test('compareVersions sorts a shuffled list', () => {
  const sorted = [
    '1.0_alpha1',
    '1.0_beta',
    '1.0_rc1',
    '1.0',
    '1.0-r1',
    '1.0_p1',
    '1.1a',
    '1.1b',
    '1.2',
    '1.2.1',
    '1.10',
  ];
  const shuffled = [
    '1.10',
    '1.0_p1',
    '1.2',
    '1.0',
    '1.1b',
    '1.0_alpha1',
    '1.2.1',
    '1.0-r1',
    '1.0_rc1',
    '1.1a',
    '1.0_beta',
  ];
  assert.deepEqual([...shuffled].sort(compareVersions), sorted);
});

test('compareVersions: a component after the first with a leading 0 compares as a string (PMS algorithm 3.3)', () => {
  // Gentoo: 1.01 < 1.1 and 1.001 < 1.01 ("01" < "1" stringwise); 1.0 and 1.00 are equal.
  for (const [a, b] of [
    ['1.01', '1.1'],
    ['1.001', '1.01'],
  ] as const) {
    assert.equal(compareVersions(a, b), -1, `${a} < ${b}`);
    assert.equal(compareVersions(b, a), 1, `${b} > ${a}`);
  }
  assert.equal(compareVersions('1.0', '1.00'), 0);
});
