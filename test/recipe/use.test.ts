import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FlagDeclaration, UseSelection } from '../../src/config/types.ts';
import { Problems, type SourceLocation } from '../../src/errors.ts';
import type { Path } from '../../src/config/yaml.ts';
import { effectiveUse } from '../../src/recipe/use.ts';

const OWNER = 'www-servers/nginx-1.22.1';

const flag = (name: string, byDefault: boolean): FlagDeclaration => ({
  name,
  default: byDefault,
  enable: [`--with-${name}`],
  disable: [],
  depends: { build: [], run: [] },
});
const FLAGS = [flag('ipv6', true), flag('ssl', false), flag('selinux', false)];

/** A selection as pkg.yaml line 10 (`with:`) and 11 (`without:`) would give it; col = 1 + index. */
const select = (withFlags: string[], withoutFlags: string[] = []): UseSelection => ({
  with: withFlags,
  without: withoutFlags,
  locate: Object.assign(
    (sub: Path = []): SourceLocation => ({
      file: 'pkg.yaml',
      line: sub[0] === 'with' ? 10 : sub[0] === 'without' ? 11 : 9,
      col: typeof sub[1] === 'number' ? 1 + sub[1] : 1,
    }),
    { text: () => ({ location: { file: 'pkg.yaml' }, continuationCol: 1 }) },
  ),
});

test('without a selection every declared flag takes its default', () => {
  const problems = new Problems();
  assert.deepEqual(effectiveUse(FLAGS, undefined, OWNER, problems), {
    ipv6: true,
    ssl: false,
    selinux: false,
  });
  assert.deepEqual(effectiveUse(FLAGS, select([]), OWNER, problems), {
    ipv6: true,
    ssl: false,
    selinux: false,
  });
  assert.deepEqual(effectiveUse([], select([]), OWNER, problems), {});
  assert.ok(problems.empty);
});

test('with: turns flags on and without: turns them off', () => {
  for (const [withFlags, withoutFlags, expected] of [
    [['ssl'], [], { ipv6: true, ssl: true, selinux: false }],
    [[], ['ipv6'], { ipv6: false, ssl: false, selinux: false }],
    [['ssl', 'selinux'], ['ipv6'], { ipv6: false, ssl: true, selinux: true }],
    [['ipv6'], ['ssl'], { ipv6: true, ssl: false, selinux: false }],
  ] as const) {
    const problems = new Problems();
    assert.deepEqual(
      effectiveUse(FLAGS, select([...withFlags], [...withoutFlags]), OWNER, problems),
      expected,
      JSON.stringify([withFlags, withoutFlags]),
    );
    assert.ok(problems.empty);
  }
});

test('an unknown flag is BUILDIT_USE_UNKNOWN at its list item, with a near miss and the known flags', () => {
  const problems = new Problems();
  const use = effectiveUse(FLAGS, select(['ssl', 'ipv7']), OWNER, problems);
  assert.deepEqual(use, { ipv6: true, ssl: true, selinux: false });
  assert.equal(problems.list.length, 1);
  const [error] = problems.list;
  assert.equal(error!.code, 'BUILDIT_USE_UNKNOWN');
  assert.match(error!.message, /"ipv7"/);
  assert.ok(error!.message.includes(OWNER));
  assert.deepEqual(error!.location, { file: 'pkg.yaml', line: 10, col: 2 });
  assert.match(error!.hint ?? '', /did you mean "ipv6"\?/);
  assert.match(error!.hint ?? '', /known flags: ipv6, ssl, selinux/);
});

test('an unknown flag with no near miss lists the known flags only', () => {
  const problems = new Problems();
  effectiveUse(FLAGS, select([], ['wayland']), OWNER, problems);
  assert.equal(problems.list.length, 1);
  const [error] = problems.list;
  assert.equal(error!.code, 'BUILDIT_USE_UNKNOWN');
  assert.deepEqual(error!.location, { file: 'pkg.yaml', line: 11, col: 1 });
  assert.doesNotMatch(error!.hint ?? '', /did you mean/);
  assert.match(error!.hint ?? '', /known flags: ipv6, ssl, selinux/);
});

test('a recipe that declares no flags says so', () => {
  const problems = new Problems();
  assert.deepEqual(effectiveUse([], select(['ssl']), OWNER, problems), {});
  assert.equal(problems.list[0]?.code, 'BUILDIT_USE_UNKNOWN');
  assert.match(problems.list[0]?.hint ?? '', /declares no use flags/);
});

test('a flag in both with: and without: is BUILDIT_USE_CONFLICT at its without: item', () => {
  const problems = new Problems();
  effectiveUse(FLAGS, select(['selinux', 'ssl'], ['ipv6', 'ssl']), OWNER, problems);
  assert.equal(problems.list.length, 1);
  const [error] = problems.list;
  assert.equal(error!.code, 'BUILDIT_USE_CONFLICT');
  assert.match(error!.message, /"ssl"/);
  assert.deepEqual(error!.location, { file: 'pkg.yaml', line: 11, col: 2 });
});

test('every problem of a selection is collected, none thrown', () => {
  const problems = new Problems();
  effectiveUse(FLAGS, select(['ssl', 'ipv7'], ['ssl', 'selinx']), OWNER, problems);
  assert.deepEqual(
    problems.list.map((e) => e.code),
    ['BUILDIT_USE_UNKNOWN', 'BUILDIT_USE_UNKNOWN', 'BUILDIT_USE_CONFLICT'],
  );
  assert.match(problems.list[1]!.hint ?? '', /did you mean "selinux"\?/);
});

test('names inherited from Object.prototype are not flags', () => {
  const problems = new Problems();
  const use = effectiveUse(FLAGS, select(['constructor', 'tostring']), OWNER, problems);
  assert.deepEqual(
    problems.list.map((e) => e.code),
    ['BUILDIT_USE_UNKNOWN', 'BUILDIT_USE_UNKNOWN'],
  );
  assert.deepEqual(Object.keys(use), ['ipv6', 'ssl', 'selinux']);
});
