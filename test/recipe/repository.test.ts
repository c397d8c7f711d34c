import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { BuilditError } from '../../src/errors.ts';
import type { Atom } from '../../src/recipe/atom.ts';
import { RecipeRepositories } from '../../src/recipe/repository.ts';
import { testdir } from '../helpers/testdir.ts';

const recipe = (description: string) => `description: ${description}\nbuild: [make]\n`;

/** Two repositories: an overlay and a main tree that share nginx-1.22.1. */
const overlay = testdir({
  'www-servers/nginx/nginx-1.22.1.yaml': recipe('overlay nginx'),
  'www-servers/nginx/nginx-1.22.1-r1.yaml': recipe('overlay nginx r1'),
  'www-servers/nginx/files/extra.patch': 'not a recipe\n',
  'dev-libs/zlib/zlib-1.3.yaml': recipe('zlib'),
});
const main = testdir({
  'www-servers/nginx/nginx-1.22.1.yaml': recipe('main nginx'),
  'www-servers/nginx/nginx-1.9.0.yaml': recipe('old nginx'),
  'www-servers/nginx/nginx-1.24.0.yaml': recipe('new nginx'),
  'www-servers/nginx/nginx-1.24.0_rc1.yaml': recipe('rc nginx'),
  'app-misc/hello/hello-1.0.yaml': recipe('hello'),
});

const atom = (category: string, name: string, version: string): Atom => ({ category, name, version });
const NGINX = atom('www-servers', 'nginx', '1.22.1');
const WHERE = { file: '/ctr/container.yaml', line: 7, col: 11 };

test('find takes a recipe from the first repository that has it (overlay order)', async () => {
  const found = await new RecipeRepositories([overlay, main]).find(NGINX);
  assert.ok(found);
  assert.equal(found.root, overlay);
  assert.equal(found.file, path.join(overlay, 'www-servers/nginx/nginx-1.22.1.yaml'));
  assert.equal(found.recipe.file, found.file);
  assert.equal(found.recipe.description, 'overlay nginx');
  assert.deepEqual(found.atom, NGINX);

  const reversed = await new RecipeRepositories([main, overlay]).find(NGINX);
  assert.equal(reversed?.root, main);
  assert.equal(reversed?.recipe.description, 'main nginx');
});

test('find falls through to a later repository, and misses give undefined', async () => {
  const repos = new RecipeRepositories([overlay, main]);
  assert.equal((await repos.find(atom('www-servers', 'nginx', '1.24.0')))?.root, main);
  assert.equal((await repos.find(atom('dev-libs', 'zlib', '1.3')))?.root, overlay);
  assert.equal(await repos.find(atom('www-servers', 'nginx', '9.9')), undefined);
  assert.equal(await repos.find(atom('nope', 'nothing', '1')), undefined);
  assert.equal(await new RecipeRepositories([]).find(NGINX), undefined);
});

test('a repository folder that does not exist is skipped', async () => {
  const repos = new RecipeRepositories([path.join(overlay, 'no-such-dir'), main]);
  assert.equal((await repos.find(NGINX))?.root, main);
  assert.deepEqual(await repos.versions('www-servers', 'nginx'), ['1.9.0', '1.22.1', '1.24.0_rc1', '1.24.0']);
});

test('find answers the same atom once', async () => {
  const repos = new RecipeRepositories([overlay, main]);
  const first = await repos.find(NGINX);
  assert.equal(await repos.find({ ...NGINX }), first);
});

test('a recipe that does not parse is an error at its file', async () => {
  const broken = testdir({ 'app-misc/bad/bad-1.0.yaml': 'build: [make\n' });
  await assert.rejects(new RecipeRepositories([broken]).find(atom('app-misc', 'bad', '1.0')), (error) => {
    assert.ok(error instanceof BuilditError);
    assert.equal(error.code, 'BUILDIT_YAML_SYNTAX');
    assert.equal(error.location?.file, path.join(broken, 'app-misc/bad/bad-1.0.yaml'));
    return true;
  });
});

test('versions lists every version of a name across repositories, once each, oldest first', async () => {
  const repos = new RecipeRepositories([overlay, main]);
  assert.deepEqual(await repos.versions('www-servers', 'nginx'), [
    '1.9.0',
    '1.22.1',
    '1.22.1-r1',
    '1.24.0_rc1',
    '1.24.0',
  ]);
  assert.deepEqual(await repos.versions('dev-libs', 'zlib'), ['1.3']);
  assert.deepEqual(await repos.versions('dev-libs', 'nothing'), []);
});

test('names lists every category/name', async () => {
  assert.deepEqual(await new RecipeRepositories([overlay, main]).names(), [
    'app-misc/hello',
    'dev-libs/zlib',
    'www-servers/nginx',
  ]);
});

test('unknownAtomError for a known name lists its versions', async () => {
  const error = await new RecipeRepositories([overlay, main]).unknownAtomError(
    atom('www-servers', 'nginx', '1.23'),
    WHERE,
  );
  assert.equal(error.code, 'BUILDIT_ATOM_UNKNOWN');
  assert.equal(error.message, 'unknown atom www-servers/nginx-1.23');
  assert.deepEqual(error.location, WHERE);
  assert.equal(
    error.hint,
    'available versions of www-servers/nginx: 1.9.0, 1.22.1, 1.22.1-r1, 1.24.0_rc1, 1.24.0',
  );
});

test('unknownAtomError for a misspelt name suggests the near one, with its versions', async () => {
  const repos = new RecipeRepositories([overlay, main]);
  const error = await repos.unknownAtomError(atom('www-servers', 'ngnix', '1.22.1'), WHERE);
  assert.equal(error.code, 'BUILDIT_ATOM_UNKNOWN');
  assert.equal(
    error.hint,
    'did you mean www-servers/nginx? (versions: 1.9.0, 1.22.1, 1.22.1-r1, 1.24.0_rc1, 1.24.0)',
  );
  const zlib = await repos.unknownAtomError(atom('dev-lib', 'zlib', '1.3'), WHERE);
  assert.equal(zlib.hint, 'did you mean dev-libs/zlib? (versions: 1.3)');
});

test('unknownAtomError for a name nowhere near says where it looked', async () => {
  const error = await new RecipeRepositories([overlay, main]).unknownAtomError(
    atom('sci-libs', 'quantumflux', '1'),
    WHERE,
  );
  assert.equal(error.hint, `no recipe of that name in ${overlay}, ${main}`);
  const none = await new RecipeRepositories([]).unknownAtomError(atom('a', 'b', '1'), WHERE);
  assert.match(none.hint ?? '', /none configured/);
});
