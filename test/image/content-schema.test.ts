import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPath, validateImageContent } from '../../src/image/content-schema.ts';

const GOOD_ACI = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/nginx-production',
  labels: [
    { name: 'version', value: '1.7.6-p1' },
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'aarch64' },
  ],
  app: {
    exec: ['/usr/sbin/nginx', '-g', 'daemon off;'],
    user: 'nginx',
    group: 'nginx',
    supplementaryGIDs: [10],
    eventHandlers: [{ name: 'pre-start', exec: ['/bin/setup'] }],
    workingDirectory: '/srv',
    environment: [{ name: 'TZ', value: 'UTC' }],
    mountPoints: [{ name: 'html', path: '/srv/www', readOnly: true }],
    ports: [{ name: 'http', protocol: 'tcp', port: 80, count: 1, socketActivated: false }],
    isolators: [{ name: 'resource/memory', value: { limit: '1G' } }],
  },
  annotations: [{ name: 'authors', value: 'Sysadmin42 <sys@admin42.org>' }],
  dependencies: [
    {
      imageName: 'example.com/base',
      imageID: 'sha512-abc123',
      labels: [{ name: 'os', value: 'linux' }],
      size: 10,
    },
  ],
  pathWhitelist: ['/usr/sbin/nginx'],
};

const GOOD_OCI = {
  User: '101:101',
  ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} },
  Env: ['PATH=/usr/bin:/bin', 'EMPTY='],
  Entrypoint: ['/usr/sbin/nginx'],
  Cmd: ['-g', 'daemon off;'],
  Volumes: { '/var/cache/nginx': {} },
  WorkingDir: '/srv',
  Labels: { 'org.opencontainers.image.title': 'nginx' },
  StopSignal: 'SIGQUIT',
};

test('valid content has no problems', () => {
  assert.deepEqual(validateImageContent('aci', GOOD_ACI), []);
  assert.deepEqual(
    validateImageContent('aci', { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'a' }),
    [],
  );
  assert.deepEqual(validateImageContent('oci', GOOD_OCI), []);
  assert.deepEqual(validateImageContent('oci', {}), []);
});

test('ACI: each problem names its exact path', () => {
  const bad = {
    ...GOOD_ACI,
    acVersion: '0.8',
    name: 'Nginx_Production',
    labels: [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'arm64' },
      { name: 'os', value: 'linux' },
      { name: 'name', value: 'x' },
      { name: 'ok', value: 1 },
    ],
    app: {
      ...GOOD_ACI.app,
      exec: ['nginx', 3],
      group: undefined,
      workingDirectory: 'srv',
      environment: [
        { name: 'A', value: 'a' },
        { name: 'A', value: 'b' },
        { name: '1X', value: 'c' },
      ],
      eventHandlers: [{ name: 'on-start', exec: [] }],
      ports: [{ name: 'HTTP', protocol: 'tcp', port: 70000 }],
      mountPoints: [{ name: 'html', path: '/srv', readonly: true }],
    },
    annotations: [{ name: 'x', val: 'y' }],
    dependencies: [{ imageName: 'base', imageID: 'sha256-abc' }],
    appp: {},
  };
  assert.deepEqual(validateImageContent('aci', bad), [
    { path: 'acVersion', message: 'expected a semantic version such as "0.8.11"' },
    {
      path: 'name',
      message:
        'expected an AC identifier: lowercase letters and digits joined by single "-", ".", "_", "~" or "/"',
    },
    { path: 'labels[4].value', message: 'expected string, got number' },
    { path: 'app.exec[1]', message: 'expected string, got number' },
    { path: 'app.eventHandlers[0].name', message: 'expected "pre-start" or "post-stop"' },
    { path: 'app.group', message: 'required' },
    { path: 'app.workingDirectory', message: 'expected an absolute path' },
    { path: 'app.environment[2].name', message: 'expected a variable name: letters, digits and "_"' },
    { path: 'app.environment[1].name', message: 'duplicate environment variable "A"' },
    { path: 'app.mountPoints[0].readonly', message: 'unknown key "readonly" (did you mean "readOnly"?)' },
    {
      path: 'app.ports[0].name',
      message: 'expected an AC name: lowercase letters and digits joined by single "-", "." or "/"',
    },
    { path: 'app.ports[0].port', message: 'expected a port from 1 to 65535' },
    { path: 'annotations[0].value', message: 'required' },
    { path: 'annotations[0].val', message: 'unknown key "val" (did you mean "value"?)' },
    { path: 'dependencies[0].imageID', message: 'expected "sha512-" and hex digits' },
    { path: 'appp', message: 'unknown key "appp" (did you mean "app"?)' },
  ]);
});

test('ACI: checks that need the whole list run once its items are valid', () => {
  const problems = validateImageContent('aci', {
    ...GOOD_ACI,
    labels: [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'arm64' },
      { name: 'os', value: 'linux' },
      { name: 'name', value: 'x' },
    ],
    app: {
      ...GOOD_ACI.app,
      exec: ['nginx'],
      environment: [
        { name: 'A', value: 'a' },
        { name: 'A', value: 'b' },
      ],
      eventHandlers: [
        { name: 'pre-start', exec: ['/a'] },
        { name: 'pre-start', exec: ['/b'] },
      ],
      ports: [{ name: 'http', protocol: 'tcp', port: 65535, count: 2 }],
    },
  });
  assert.deepEqual(problems, [
    { path: 'labels[2].name', message: 'duplicate label "os"' },
    { path: 'labels[3].name', message: '"name" is not a label: it is the manifest\'s name' },
    {
      path: 'labels[1].value',
      message:
        'arch "arm64" is not an appc arch for linux (amd64, i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x)',
    },
    { path: 'app.exec[0]', message: 'exec[0] must be an absolute path' },
    { path: 'app.eventHandlers[1].name', message: 'a second "pre-start" handler' },
    { path: 'app.environment[1].name', message: 'duplicate environment variable "A"' },
    { path: 'app.ports[0].count', message: 'the port range ends above 65535' },
  ]);
});

test('ACI: wrong shapes at the top', () => {
  assert.deepEqual(validateImageContent('aci', []), [{ path: '', message: 'expected object, got array' }]);
  assert.deepEqual(validateImageContent('aci', { acKind: 'PodManifest', acVersion: '0.8.11', name: 'x' }), [
    { path: 'acKind', message: 'expected "ImageManifest"' },
  ]);
  assert.deepEqual(validateImageContent('aci', {}), [
    { path: 'acKind', message: 'expected "ImageManifest"' },
    { path: 'acVersion', message: 'required' },
    { path: 'name', message: 'required' },
  ]);
});

test('OCI: each problem names its exact path', () => {
  const bad = {
    Entrypiont: ['/bin/sh'],
    Entrypoint: '/bin/sh',
    Cmd: ['-c', 1],
    Env: ['PATH=/bin', 'NOVALUE', '=x'],
    ExposedPorts: { '80/tcp': {}, '80/http': {}, '0': {}, '443/tcp': { HostPort: 443 } },
    Volumes: { '/data': true },
    Labels: { 'org.example.version': 2, ok: 'yes' },
    User: 0,
    StopSignal: 9,
  };
  assert.deepEqual(validateImageContent('oci', bad), [
    { path: 'User', message: 'expected string, got number' },
    // JavaScript lists integer-like keys first.
    {
      path: 'ExposedPorts["0"]',
      message: 'expected "<port>/tcp", "<port>/udp", "<port>/sctp" or "<port>", the port from 1 to 65535',
    },
    {
      path: 'ExposedPorts["80/http"]',
      message: 'expected "<port>/tcp", "<port>/udp", "<port>/sctp" or "<port>", the port from 1 to 65535',
    },
    { path: 'ExposedPorts["443/tcp"].HostPort', message: 'unknown key "HostPort"' },
    { path: 'Env[1]', message: 'expected "NAME=value"' },
    { path: 'Env[2]', message: 'expected "NAME=value"' },
    { path: 'Entrypoint', message: 'expected array, got string' },
    { path: 'Cmd[1]', message: 'expected string, got number' },
    { path: 'Volumes["/data"]', message: 'expected object, got boolean' },
    { path: 'Labels["org.example.version"]', message: 'expected string, got number' },
    { path: 'StopSignal', message: 'expected string, got number' },
    { path: 'Entrypiont', message: 'unknown key "Entrypiont" (did you mean "Entrypoint"?)' },
  ]);
  assert.deepEqual(validateImageContent('oci', null), [{ path: '', message: 'expected object, got null' }]);
});

test('paths read like JavaScript', () => {
  assert.equal(formatPath([]), '');
  assert.equal(formatPath(['app', 'exec', 0]), 'app.exec[0]');
  assert.equal(formatPath(['Labels', 'org.example/x']), 'Labels["org.example/x"]');
  assert.equal(formatPath([0, 'a']), '[0].a');
});
