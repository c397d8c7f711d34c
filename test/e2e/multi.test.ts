/**
 * examples/multi: a library, two programs linking it, a data package and a
 * remote patch (served here from loopback), built and run under podman.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, REPO, testEnv } from '../helpers/cli.ts';
import { testdir } from '../helpers/testdir.ts';
import { spdxProblems } from '../helpers/spdx.ts';
import { podmanRun } from '../helpers/tools.ts';

test('examples/multi builds, and its programs run under podman using the library and the data package', async () => {
  const patch = readFileSync(path.join(REPO, 'test/fixtures/multi/add-signature.patch'));
  const server = http.createServer((_req, res) => res.end(patch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const root = testdir();
    const ctr = path.join(root, 'multi');
    cpSync(path.join(REPO, 'examples/multi'), ctr, { recursive: true });
    const pkg = path.join(ctr, 'pkgs/greet-bye/pkg.yaml');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/greet-bye/add-signature.patch`;
    writeFileSync(
      pkg,
      readFileSync(pkg, 'utf8').replace('https://patches.buildit.example/greet-bye/add-signature.patch', url),
    );
    writeFileSync(path.join(root, '.buildit-config.yaml'), `recipes: [${path.join(REPO, 'recipes')}]\n`);
    const out = path.join(root, 'out');
    const r = await buildit([ctr, '-o', out, '--json', '-j2'], { env: testEnv() });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const atoms = r.events.filter((e) => e['type'] === 'package').map((e) => e['atom']);
    assert.deepEqual([...atoms].sort(), [
      'app-misc/greet-bye-1.0',
      'app-misc/greet-data-1.0',
      'app-misc/greet-hello-1.0',
      'dev-libs/libgreet-1.0',
    ]);
    const layout = path.join(out, 'greet-1.0.oci');
    assert.equal(podmanRun(layout, '1.0'), 'Hello, Alice!\nHello, Bob!\nHello, Carol!\n');
    const bye = podmanRun(layout, '1.0', [], { entrypoint: '/usr/bin/greet-bye' });
    assert.match(bye, /^BYE FROM HELLO LAND, ALICE\.$/m);
    assert.match(bye, /^-- signed, buildit$/m);

    // Its SBOM names every package (the build-only libgreet too) with its identity, and the remote patch.
    const sbom = JSON.parse(readFileSync(`${layout}.spdx.json`, 'utf8')) as {
      packages: Record<string, unknown>[];
      relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
    };
    assert.deepEqual(spdxProblems(sbom), []);
    for (const event of r.events.filter((e) => e['type'] === 'package')) {
      const pkg = sbom.packages.find((p) => p['name'] === event['name']);
      assert.ok(pkg, String(event['atom']));
      assert.match(JSON.stringify(pkg['externalRefs']), new RegExp(String(event['id'])));
    }
    const signature = sbom.packages.find((p) => p['name'] === 'add-signature.patch')!;
    assert.equal(signature['downloadLocation'], url);
    assert.equal(signature['description'], 'Adds a signature line');
    assert.equal(signature['originator'], 'Person: Sysadmin42 (sys@admin42.org)');
    const idOf = (name: string) => sbom.packages.find((p) => p['name'] === name)!['SPDXID'];
    const related = (a: string, type: string, b: string) =>
      sbom.relationships.some(
        (x) => x.spdxElementId === idOf(a) && x.relationshipType === type && x.relatedSpdxElement === idOf(b),
      );
    assert.ok(related('add-signature.patch', 'PATCH_APPLIED', 'greet-bye'));
    assert.ok(related('libgreet', 'BUILD_DEPENDENCY_OF', 'greet-hello'));
    assert.ok(related('greet-hello', 'DEPENDS_ON', 'greet-data'));
    assert.ok(!related('greet-1.0', 'CONTAINS', 'libgreet'), 'linked statically: not in the image');
  } finally {
    server.close();
  }
});
