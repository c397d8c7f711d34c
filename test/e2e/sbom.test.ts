/**
 * Know what is inside: every image carries an SPDX 2.3 SBOM (inside it and
 * beside it), `buildit sbom` prints it from the image, and shared libraries
 * an image needs but nothing in it provides are reported (an error with
 * --strict-libs).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { buildit, testEnv, type CliResult } from '../helpers/cli.ts';
import { spdxProblems } from '../helpers/spdx.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';
import { tool } from '../helpers/tools.ts';

type Spdx = {
  name: string;
  packages: Record<string, unknown>[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
};

let out: string;
let first: CliResult;

before(async () => {
  out = testdir();
  first = await buildit([repoCopy('examples/hello').ctr, '-o', out, '--json'], { env: testEnv() });
  assert.equal(first.code, 0, first.stdout + first.stderr);
});

test('every image has an SBOM beside it, and buildit sbom prints the one inside it, byte for byte', async () => {
  const images = first.events.filter((e) => e['type'] === 'image');
  assert.deepEqual(
    images.map((e) => path.basename(String(e['sbom']))),
    ['hello-1.0-p1.oci.spdx.json', 'hello-1.0-p1-linux-amd64.aci.spdx.json'],
  );
  for (const image of images) {
    const beside = readFileSync(String(image['sbom']), 'utf8');
    const printed = await buildit(['sbom', String(image['path'])]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, beside);
    assert.deepEqual(spdxProblems(JSON.parse(beside)), []);
  }
  // The layer a real tool unpacks holds the same file.
  const layout = path.join(out, 'hello-1.0-p1.oci');
  const bundle = path.join(testdir(), 'bundle');
  tool('umoci', ['unpack', '--image', `${layout}:1.0-p1`, bundle]);
  assert.equal(
    readFileSync(path.join(bundle, 'rootfs/usr/share/buildit/sbom/hello-1.0-p1.spdx.json'), 'utf8'),
    readFileSync(`${layout}.spdx.json`, 'utf8'),
  );
});

test('the SBOM names each package with its identity, patches with description and author, and use flags', () => {
  const sbom = JSON.parse(readFileSync(path.join(out, 'hello-1.0-p1.oci.spdx.json'), 'utf8')) as Spdx;
  const pkgEvents = first.events.filter((e) => e['type'] === 'package');
  assert.ok(pkgEvents.length > 0);
  for (const event of pkgEvents) {
    const pkg = sbom.packages.find((p) => p['name'] === event['name']);
    assert.ok(pkg, `${String(event['name'])} is in the SBOM`);
    assert.equal(pkg['versionInfo'], event['version']);
    assert.ok(
      JSON.stringify(pkg['externalRefs']).includes(`"referenceLocator":"${String(event['id'])}"`),
      'the identity is named',
    );
  }
  const hello = sbom.packages.find((p) => p['name'] === 'hello')!;
  const comments = (hello['annotations'] as { comment: string }[]).map((a) => a.comment);
  assert.ok(comments.includes('buildit.use={"shout":true,"motd":true,"static":true}'), comments.join('\n'));
  // A static program needs no shared library, and provides none.
  assert.ok(comments.includes('buildit.needs=[]'), comments.join('\n'));
  const patch = sbom.packages.find((p) => p['name'] === 'sysadmin42-greeting.patch')!;
  assert.equal(patch['description'], "Adds the line 'patched by Sysadmin42' to the greeting");
  assert.equal(patch['originator'], 'Person: Sysadmin42 (sys@admin42.org)');
  assert.ok(
    sbom.relationships.some(
      (r) =>
        r.spdxElementId === patch['SPDXID'] &&
        r.relationshipType === 'PATCH_APPLIED' &&
        r.relatedSpdxElement === hello['SPDXID'],
    ),
  );
});

test('buildit sbom on something that is not an image is an input error; --json wraps the document', async () => {
  const notImage = await buildit(['sbom', path.join(out, 'nothing-here.oci')]);
  assert.equal(notImage.code, 2);
  assert.match(notImage.stderr, /BUILDIT_SBOM_IMAGE/);
  const json = await buildit(['sbom', path.join(out, 'hello-1.0-p1-linux-amd64.aci'), '--json']);
  assert.equal(json.code, 0, json.stderr);
  const event = json.events.find((e) => e['type'] === 'sbom')!;
  assert.equal(event['path'], '/usr/share/buildit/sbom/hello-1.0-p1.spdx.json');
  assert.equal((event['document'] as Spdx).name, 'hello-1.0-p1');
});

/** A shared library and a program linking it; whether the library is in the image is the test's choice. */
function libsFixture(appDepends: string): string {
  const dir = testdir({
    '.buildit-config.yaml': 'recipes: [./recipes]\n',
    'recipes/dev-test/libdemo/libdemo-1.0.yaml': `description: a shared library
license: MIT
source:
  - path: ./files/src
build:
  - cc -shared -fPIC -Wl,-soname,libdemo.so.1 -o libdemo.so.1.0 demo.c
  - install -D -m 0755 libdemo.so.1.0 "$DESTDIR/usr/lib/libdemo.so.1.0"
  - ln -s libdemo.so.1.0 "$DESTDIR/usr/lib/libdemo.so.1"
  - ln -s libdemo.so.1 "$DESTDIR/usr/lib/libdemo.so"
  - install -D -m 0644 demo.h "$DESTDIR/usr/include/demo.h"
`,
    'recipes/dev-test/libdemo/files/src/demo.c': 'const char *demo(void) { return "demo"; }\n',
    'recipes/dev-test/libdemo/files/src/demo.h': 'const char *demo(void);\n',
    'recipes/app-test/demo/demo-1.0.yaml': `description: a program linking libdemo
license: MIT
source:
  - path: ./files/src
depends: ${appDepends}
build:
  - cc -o demo main.c -ldemo
  - install -D -m 0755 demo "$DESTDIR/usr/bin/demo"
`,
    'recipes/app-test/demo/files/src/main.c':
      '#include <stdio.h>\n#include <demo.h>\nint main(void) { puts(demo()); return 0; }\n',
    'ctr/container.yaml': `- vars: { name: demo, version: "1" }
- package: { type: recipe, atom: app-test/demo-1.0 }
- image: { type: oci, content: '{ "Cmd": ["/usr/bin/demo"] }' }
`,
  });
  return dir;
}

test('a needed library nothing in the image provides is a warning naming the file and the library', async () => {
  const dir = libsFixture('{ build: [dev-test/libdemo-1.0] }');
  const env = testEnv();
  const r = await buildit([path.join(dir, 'ctr'), '-o', path.join(dir, 'out'), '--json'], { env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const warnings = r.events.filter((e) => e['type'] === 'warning').map((e) => String(e['message']));
  assert.ok(
    warnings.some((w) => w.includes('/usr/bin/demo') && w.includes('needs libdemo.so.1')),
    warnings.join('\n'),
  );
  const sbom = JSON.parse(readFileSync(path.join(dir, 'out/demo-1.oci.spdx.json'), 'utf8')) as Spdx;
  const image = sbom.packages.find((p) => p['primaryPackagePurpose'] === 'CONTAINER')!;
  assert.match(JSON.stringify(image['annotations']), /\/usr\/bin\/demo.*libdemo\.so\.1/);
  assert.deepEqual(spdxProblems(sbom), []);

  const strict = await buildit([path.join(dir, 'ctr'), '-o', path.join(dir, 'out2'), '--strict-libs'], {
    env,
  });
  assert.equal(strict.code, 1, strict.stdout + strict.stderr);
  assert.match(strict.stderr, /\/usr\/bin\/demo needs libdemo\.so\.1.*BUILDIT_IMAGE_LIBRARY_MISSING/s);
});

test('with the library a run dependency, it is in the image and the program links to it in the SBOM', async () => {
  const dir = libsFixture('{ build: [dev-test/libdemo-1.0], run: [dev-test/libdemo-1.0] }');
  const r = await buildit([path.join(dir, 'ctr'), '-o', path.join(dir, 'out'), '--json'], { env: testEnv() });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const warnings = r.events.filter((e) => e['type'] === 'warning').map((e) => String(e['message']));
  assert.ok(!warnings.some((w) => w.includes('libdemo')), warnings.join('\n'));
  // libc is dynamic here and no package provides it: still reported.
  assert.ok(
    warnings.some((w) => w.includes('needs libc.so.6')),
    warnings.join('\n'),
  );
  const sbom = JSON.parse(readFileSync(path.join(dir, 'out/demo-1.oci.spdx.json'), 'utf8')) as Spdx;
  const id = (name: string) => sbom.packages.find((p) => p['name'] === name)!['SPDXID'];
  assert.ok(
    sbom.relationships.some(
      (r) =>
        r.spdxElementId === id('demo') &&
        r.relationshipType === 'DYNAMIC_LINK' &&
        r.relatedSpdxElement === id('libdemo'),
    ),
  );
  const lib = sbom.packages.find((p) => p['name'] === 'libdemo')!;
  assert.ok(
    (lib['annotations'] as { comment: string }[]).some(
      (a) => a.comment === 'buildit.provides=[["libdemo.so.1","/usr/lib/libdemo.so.1.0"]]',
    ),
  );
});
