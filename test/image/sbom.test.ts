/** The SPDX document of an image, from package records: complete, valid SPDX 2.3, the same every time. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSbom, type SbomPackage } from '../../src/image/sbom.ts';
import { LAYER_MEDIA_TYPE, RECORD_SCHEMA, type PackageRecord } from '../../src/store/record.ts';
import { spdxProblems } from '../helpers/spdx.ts';

const hex = (c: string) => c.repeat(64);

function record(name: string, id: string, metadata: Record<string, unknown>): PackageRecord {
  return {
    schema: RECORD_SCHEMA,
    id,
    name,
    version: '1.0',
    target: { os: 'linux', arch: 'amd64' },
    preimage: {},
    artifact: {
      digest: `sha256:${hex('d')}`,
      size: 1,
      diffId: `sha256:${hex('e')}`,
      mediaType: LAYER_MEDIA_TYPE,
    },
    metadata,
    signatures: [],
  };
}

const lib = record('libgreet', hex('1'), {
  atom: 'dev-libs/libgreet-1.0',
  license: 'MIT',
  sources: [{ path: 'libgreet-1.0', sha256: hex('a') }],
  patches: [],
  use: {},
  libraries: { provides: [{ soname: 'libgreet.so.1', path: '/usr/lib/libgreet.so.1.0' }], needs: [] },
});
const app = record('greet', hex('2'), {
  atom: 'app-misc/greet-1.0',
  author: 'Sysadmin42 <sys@admin42.org>',
  description: 'Greets',
  homepage: 'https://example.org/greet',
  license: 'GPL-2.0-or-later WITH Classpath-exception-2.0',
  sources: [{ url: 'https://example.org/greet-1.0.tar.gz', sha256: hex('b') }],
  patches: [
    {
      sha256: hex('c'),
      description: 'Fix buffer overruns',
      author: 'Jane Doe <jane@example.org>',
      url: 'https://example.org/fix.patch',
    },
  ],
  use: { ipv6: true, ssl: false },
  libraries: {
    provides: [],
    needs: [
      { path: '/usr/bin/greet', library: 'libc.so.6' },
      { path: '/usr/bin/greet', library: 'libgreet.so.1' },
    ],
  },
});
const tool = record('cc-wrapper', hex('3'), { license: 'some free text licence', use: {} });

const packages: SbomPackage[] = [
  { record: lib, inImage: true, deps: { build: [], run: [] }, libraries: lib.metadata['libraries'] as never },
  {
    record: app,
    inImage: true,
    deps: { build: [hex('3')], run: [hex('1')] },
    libraries: app.metadata['libraries'] as never,
  },
  { record: tool, inImage: false, deps: { build: [], run: [] } },
];
const input = {
  imageName: 'greet-1.0',
  version: '1.0',
  created: 0,
  tool: 'buildit-0.1.0',
  packages,
  missing: [{ path: '/usr/bin/greet', library: 'libc.so.6', id: hex('2') }],
};

type Doc = {
  packages: Record<string, unknown>[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
  documentNamespace: string;
  creationInfo: { created: string };
};

test('the SBOM is a valid SPDX 2.3 document naming every package with identity, artifact, sources and patches', () => {
  const doc = buildSbom(input) as unknown as Doc;
  assert.deepEqual(spdxProblems(doc), []);
  assert.equal(doc.creationInfo.created, '1970-01-01T00:00:00Z');
  const byName = new Map(doc.packages.map((p) => [String(p['name']), p]));
  const greet = byName.get('greet')!;
  assert.equal(greet['versionInfo'], '1.0');
  assert.equal(greet['supplier'], 'Person: Sysadmin42 (sys@admin42.org)');
  assert.equal(greet['licenseDeclared'], 'GPL-2.0-or-later WITH Classpath-exception-2.0');
  assert.equal(greet['downloadLocation'], 'https://example.org/greet-1.0.tar.gz');
  assert.deepEqual(greet['checksums'], [{ algorithm: 'SHA256', checksumValue: hex('d') }]);
  const refs = greet['externalRefs'] as { referenceType: string; referenceLocator: string }[];
  assert.deepEqual(
    refs.map((r) => [r.referenceType, r.referenceLocator]),
    [
      ['purl', 'pkg:generic/app-misc/greet@1.0'],
      ['buildit-identity', hex('2')],
    ],
  );
  const comments = (greet['annotations'] as { comment: string }[]).map((a) => a.comment);
  assert.ok(comments.includes('buildit.use={"ipv6":true,"ssl":false}'), comments.join('\n'));
  assert.ok(
    comments.includes('buildit.needs=[["/usr/bin/greet","libc.so.6"],["/usr/bin/greet","libgreet.so.1"]]'),
  );
  const patch = byName.get('fix.patch')!;
  assert.equal(patch['description'], 'Fix buffer overruns');
  assert.equal(patch['originator'], 'Person: Jane Doe (jane@example.org)');
  assert.equal(patch['downloadLocation'], 'https://example.org/fix.patch');
  // Free text is not a license expression: NOASSERTION, the text kept in a comment.
  const cc = byName.get('cc-wrapper')!;
  assert.equal(cc['licenseDeclared'], 'NOASSERTION');
  assert.match(String(cc['licenseComments']), /some free text licence/);
  const image = byName.get('greet-1.0')!;
  assert.equal(image['primaryPackagePurpose'], 'CONTAINER');
  assert.match(JSON.stringify(image['annotations']), /libc\.so\.6/);
});

test('relationships: what the image contains, dependencies, sources, patches and dynamic links', () => {
  const doc = buildSbom(input) as unknown as Doc;
  const idOf = new Map(doc.packages.map((p) => [String(p['name']), String(p['SPDXID'])]));
  const has = (a: string, type: string, b: string) =>
    doc.relationships.some(
      (r) =>
        r.spdxElementId === idOf.get(a) &&
        r.relationshipType === type &&
        r.relatedSpdxElement === idOf.get(b),
    );
  assert.ok(has('greet-1.0', 'CONTAINS', 'greet'));
  assert.ok(has('greet-1.0', 'CONTAINS', 'libgreet'));
  assert.ok(!has('greet-1.0', 'CONTAINS', 'cc-wrapper'), 'a build-only dependency is not in the image');
  assert.ok(has('cc-wrapper', 'BUILD_DEPENDENCY_OF', 'greet'));
  assert.ok(has('greet', 'DEPENDS_ON', 'libgreet'));
  assert.ok(has('greet', 'DYNAMIC_LINK', 'libgreet'));
  assert.ok(has('greet', 'GENERATED_FROM', 'greet-1.0.tar.gz'));
  assert.ok(has('fix.patch', 'PATCH_APPLIED', 'greet'));
  assert.ok(
    doc.relationships.some(
      (r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES',
    ),
  );
});

test('the same records give the same bytes; other records another namespace', () => {
  const a = JSON.stringify(buildSbom(input));
  assert.equal(JSON.stringify(buildSbom(input)), a);
  const other = buildSbom({ ...input, packages: packages.slice(0, 2) }) as unknown as Doc;
  assert.notEqual(other.documentNamespace, (JSON.parse(a) as Doc).documentNamespace);
});

test('the schema check catches what is not SPDX', () => {
  const doc = buildSbom(input) as unknown as Doc;
  const broken = structuredClone(doc);
  broken.packages[1]!['SPDXID'] = 'not an id';
  assert.ok(spdxProblems(broken).some((p) => p.includes('SPDXID')));
  const dangling = structuredClone(doc);
  dangling.relationships.push({
    spdxElementId: 'SPDXRef-Image',
    relationshipType: 'CONTAINS',
    relatedSpdxElement: 'SPDXRef-Nowhere',
  });
  assert.deepEqual(spdxProblems(dangling), ['relationship names unknown SPDXRef-Nowhere']);
});
