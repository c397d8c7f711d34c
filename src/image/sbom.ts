/**
 * The SBOM of an image (SPEC §6): an SPDX 2.3 JSON document naming every
 * package with its identity, artifact digest, license, sources, patches
 * (with descriptions and authors), effective use flags and shared libraries,
 * and how the packages relate. Built from package records only, so a package
 * from a binhost is described exactly like one built here; the same records
 * give the same bytes.
 */
import { createHash } from 'node:crypto';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import type { LibraryInventory } from './libraries.ts';

/** Where every image carries its SBOM; `<name>` is the image's name. */
export const SBOM_DIR = 'usr/share/buildit/sbom';

export function sbomPathInImage(imageName: string): string {
  return `${SBOM_DIR}/${imageName}.spdx.json`;
}

export interface SbomPackage {
  record: PackageRecord;
  /** Installed in the image (false: only needed to build one that is). */
  inImage: boolean;
  /** Identities of its dependencies. */
  deps: { build: readonly string[]; run: readonly string[] };
  libraries?: LibraryInventory;
}

export interface SbomInput {
  imageName: string;
  version: string;
  /** SOURCE_DATE_EPOCH of the image, in seconds. */
  created: number;
  /** e.g. `buildit-0.1.0`. */
  tool: string;
  packages: readonly SbomPackage[];
  /** Needs nothing in the image provides (already reported as warnings). */
  missing: readonly { path: string; library: string; id: string }[];
}

type Json = Record<string, unknown>;

/** The metadata buildit writes into records (builder.ts); records from elsewhere may lack any of it. */
interface RecordMetadata {
  atom?: string;
  author?: string;
  description?: string;
  homepage?: string;
  license?: string;
  sources?: { url?: string; path?: string; sha256: string }[];
  patches?: { sha256: string; description?: string; author?: string; url?: string; file?: string }[];
  use?: Record<string, boolean>;
}

const NOASSERTION = 'NOASSERTION';

export function buildSbom(input: SbomInput): Json {
  const created = new Date(input.created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const annotation = (comment: string): Json => ({
    annotationType: 'OTHER',
    annotator: `Tool: ${input.tool}`,
    annotationDate: created,
    comment,
  });
  const idOf = new Map(input.packages.map((p) => [p.record.id, packageSpdxId(p.record)]));
  const packages: Json[] = [
    {
      SPDXID: 'SPDXRef-Image',
      name: input.imageName,
      versionInfo: input.version,
      primaryPackagePurpose: 'CONTAINER',
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(input.missing.length > 0
        ? {
            annotations: [
              annotation(
                `buildit.missing-libraries=${JSON.stringify(input.missing.map((m) => [m.path, m.library]))}`,
              ),
            ],
          }
        : {}),
    },
  ];
  const relationships: Json[] = [relationship('SPDXRef-DOCUMENT', 'DESCRIBES', 'SPDXRef-Image')];
  const inputs = new Map<string, Json>();

  for (const pkg of input.packages) {
    const { record } = pkg;
    const meta = record.metadata as RecordMetadata;
    const spdxId = idOf.get(record.id)!;
    const firstUrl = meta.sources?.find((s) => s.url)?.url;
    const annotations = [annotation(`buildit.use=${JSON.stringify(meta.use ?? {})}`)];
    if (pkg.libraries) {
      annotations.push(
        annotation(
          `buildit.provides=${JSON.stringify(pkg.libraries.provides.map((p) => [p.soname, p.path]))}`,
        ),
        annotation(`buildit.needs=${JSON.stringify(pkg.libraries.needs.map((n) => [n.path, n.library]))}`),
      );
    }
    packages.push({
      SPDXID: spdxId,
      name: record.name,
      versionInfo: record.version,
      ...(meta.author ? { supplier: party(meta.author) } : {}),
      downloadLocation: firstUrl ?? NOASSERTION,
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: artifactHex(record) }],
      ...(meta.homepage ? { homepage: meta.homepage } : {}),
      licenseConcluded: NOASSERTION,
      licenseDeclared: license(meta.license),
      copyrightText: NOASSERTION,
      ...(meta.description ? { description: meta.description } : {}),
      ...(meta.license && license(meta.license) === NOASSERTION
        ? { licenseComments: `as the recipe states it: ${meta.license}` }
        : {}),
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: purl(meta.atom, record),
        },
        { referenceCategory: 'OTHER', referenceType: 'buildit-identity', referenceLocator: record.id },
      ],
      annotations,
    });
    if (pkg.inImage) relationships.push(relationship('SPDXRef-Image', 'CONTAINS', spdxId));
    for (const dep of pkg.deps.run) {
      const other = idOf.get(dep);
      if (other) relationships.push(relationship(spdxId, 'DEPENDS_ON', other));
    }
    for (const dep of pkg.deps.build) {
      const other = idOf.get(dep);
      if (other) relationships.push(relationship(other, 'BUILD_DEPENDENCY_OF', spdxId));
    }
    for (const source of meta.sources ?? []) {
      const sourceId = addInput(inputs, 'Source', { ...source, local: source.path });
      relationships.push(relationship(spdxId, 'GENERATED_FROM', sourceId));
    }
    for (const patch of meta.patches ?? []) {
      const patchId = addInput(
        inputs,
        'Patch',
        { ...patch, local: patch.file },
        {
          ...(patch.author ? { originator: party(patch.author) } : {}),
          ...(patch.description ? { description: patch.description } : {}),
        },
      );
      relationships.push(relationship(patchId, 'PATCH_APPLIED', spdxId));
    }
  }
  relationships.push(...dynamicLinks(input.packages, idOf));
  packages.push(...[...inputs.values()]);

  const document: Json = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: input.imageName,
    documentNamespace: '',
    creationInfo: { created, creators: [`Tool: ${input.tool}`] },
    packages,
    relationships,
  };
  // Unique per content, and the same for the same content: named after its own digest.
  const digest = createHash('sha256').update(JSON.stringify(document)).digest('hex');
  document['documentNamespace'] = `https://buildit.invalid/spdx/${input.imageName}-${digest}`;
  return document;
}

/**
 * A source or patch as a SOURCE package, once per sha256 however many packages use it; its SPDXID.
 * A URL names it by its last segment, a local file by its path.
 */
function addInput(
  inputs: Map<string, Json>,
  kind: 'Source' | 'Patch',
  input: { url?: string; local?: string; sha256: string },
  extra: Json = {},
): string {
  const id = `SPDXRef-${kind}-${input.sha256.slice(0, 16)}`;
  if (!inputs.has(id)) {
    inputs.set(id, {
      SPDXID: id,
      name: input.url ? lastSegment(input.url) : (input.local ?? input.sha256),
      primaryPackagePurpose: 'SOURCE',
      downloadLocation: input.url ?? NOASSERTION,
      filesAnalyzed: false,
      checksums: [{ algorithm: 'SHA256', checksumValue: input.sha256 }],
      ...extra,
    });
  }
  return id;
}

/** Each package that needs a soname another package in the image provides links to it dynamically. */
function dynamicLinks(packages: readonly SbomPackage[], idOf: ReadonlyMap<string, string>): Json[] {
  const providers = new Map<string, string>();
  for (const pkg of packages) {
    if (!pkg.inImage) continue;
    for (const p of pkg.libraries?.provides ?? [])
      if (!providers.has(p.soname)) providers.set(p.soname, pkg.record.id);
  }
  const out: Json[] = [];
  for (const pkg of packages) {
    if (!pkg.inImage) continue;
    const linked = new Set<string>();
    for (const need of pkg.libraries?.needs ?? []) {
      const provider = providers.get(need.library);
      if (provider && provider !== pkg.record.id && !linked.has(provider)) {
        linked.add(provider);
        out.push(relationship(idOf.get(pkg.record.id)!, 'DYNAMIC_LINK', idOf.get(provider)!));
      }
    }
  }
  return out;
}

function relationship(element: string, type: string, related: string): Json {
  return { spdxElementId: element, relationshipType: type, relatedSpdxElement: related };
}

/** SPDX ids allow letters, digits, "." and "-". */
function packageSpdxId(record: PackageRecord): string {
  return `SPDXRef-Package-${record.name.replace(/[^A-Za-z0-9.-]/g, '-')}-${record.id.slice(0, 16)}`;
}

/** `Name <mail>` → SPDX's `Person: Name (mail)`. */
function party(author: string): string {
  const m = /^\s*(.*?)\s*<([^>]*)>\s*$/.exec(author);
  const text = m ? `${m[1]} (${m[2]})` : author.trim();
  return `Person: ${text.replace(/[\r\n]+/g, ' ')}`;
}

/** A license expression made of SPDX ids and operators is kept; free text is not an expression. */
function license(text: string | undefined): string {
  if (!text) return NOASSERTION;
  const tokens = text.replace(/[()]/g, ' ').split(/\s+/).filter(Boolean);
  const ok =
    tokens.length > 0 &&
    tokens.every((t, i) =>
      i % 2 === 1 ? /^(AND|OR|WITH)$/.test(t) : /^(LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.-]*\+?$/.test(t),
    ) &&
    tokens.length % 2 === 1;
  return ok ? text.trim() : NOASSERTION;
}

/** package-url of a generic package: category as namespace, e.g. `pkg:generic/app-misc/hello@1.0`. */
function purl(atom: string | undefined, record: PackageRecord): string {
  const category = atom?.includes('/') ? atom.slice(0, atom.indexOf('/')) : undefined;
  const encode = (s: string) => encodeURIComponent(s);
  return `pkg:generic/${category ? `${encode(category)}/` : ''}${encode(record.name)}@${encode(record.version)}`;
}

function lastSegment(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? url);
  } catch {
    return url;
  }
}
