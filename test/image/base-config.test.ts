import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeConfig } from '../../src/image/base-config.ts';

const BASE = {
  Env: ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8'],
  Entrypoint: ['/docker-entrypoint.sh'],
  Cmd: ['node'],
  WorkingDir: '/',
  Labels: { vendor: 'base', keep: 'yes' },
  ExposedPorts: { '80/tcp': {} },
};

test('without a base the config is ours', () => {
  assert.deepEqual(mergeConfig(undefined, { Cmd: ['x'] }), { Cmd: ['x'] });
});

test('Env is appended, a variable set again replaced in place', () => {
  const merged = mergeConfig(BASE, { Env: ['PATH=/opt/bin:/usr/bin', 'APP=1'] });
  assert.deepEqual(merged['Env'], ['PATH=/opt/bin:/usr/bin', 'LANG=C.UTF-8', 'APP=1']);
});

test('Cmd and WorkingDir are replaced when given; the rest of the base stays', () => {
  const merged = mergeConfig(BASE, { Cmd: ['node', 'index.js'], WorkingDir: '/app' });
  assert.deepEqual(merged['Cmd'], ['node', 'index.js']);
  assert.equal(merged['WorkingDir'], '/app');
  assert.deepEqual(merged['Entrypoint'], ['/docker-entrypoint.sh']);
});

test("Entrypoint without Cmd drops the base's Cmd", () => {
  const merged = mergeConfig(BASE, { Entrypoint: ['/usr/bin/hello'] });
  assert.deepEqual(merged['Entrypoint'], ['/usr/bin/hello']);
  assert.equal('Cmd' in merged, false);
});

test('Labels and ExposedPorts are merged, ours winning', () => {
  const merged = mergeConfig(BASE, { Labels: { vendor: 'us' }, ExposedPorts: { '443/tcp': {} } });
  assert.deepEqual(merged['Labels'], { vendor: 'us', keep: 'yes' });
  assert.deepEqual(merged['ExposedPorts'], { '80/tcp': {}, '443/tcp': {} });
});
