/**
 * `buildit verify`, one package at a time: where its baseline is (the store,
 * else a binhost), whether that baseline is intact, and how a rebuild's
 * artifact compares with it. verify.ts decides what is checked or rebuilt,
 * and when; this file only says what each package's verdict is.
 */
import { createReadStream } from 'node:fs';
import type { BinhostLookup } from '../binhost/lookup.ts';
import type { RemoteBinhost } from '../binhost/remote.ts';
import { BinhostError } from '../binhost/types.ts';
import { BuilditError } from '../errors.ts';
import { diffArtifacts, type PathDifference } from '../image/artifact-diff.ts';
import { digestHex } from '../image/layer.ts';
import type { PackageNode } from '../recipe/types.ts';
import { blobPath } from '../store/layout.ts';
import type { PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { storedRecord } from './builder.ts';
import type { PreparedGraph } from './prepare.ts';

/**
 * same / differs: a rebuild's artifact against the baseline's. intact /
 * corrupt: the store's artifact against its record's digest. missing: neither
 * the store nor a binhost has the package (or the binhost lacks its artifact).
 */
export type VerdictResult = 'same' | 'differs' | 'intact' | 'corrupt' | 'missing';

export interface Verdict {
  node: PackageNode;
  id: string;
  label: string;
  result: VerdictResult;
  /** 'store', or the name of the binhost whose record is compared with; undefined when missing. */
  baseline: string | undefined;
  /** For 'differs': the paths inside the artifact whose entries differ. */
  paths: PathDifference[];
  /** A sentence for what paths cannot say (compression only, a baseline that could not be read). */
  detail?: string;
  /** 'differs' with the same uncompressed tar: only the gzip bytes differ. */
  compressionOnly?: boolean;
}

export type Baseline =
  | { where: 'store'; record: PackageRecord }
  | { where: 'binhost'; record: PackageRecord; binhost: RemoteBinhost };

/** Where a rebuild is compared: the main store holds a store baseline, the fresh one the rebuild. */
export interface RebuildStores {
  store: LocalStore;
  /** Also where a binhost's baseline is fetched to, so the main store gains nothing. */
  fresh: LocalStore;
  graph: PreparedGraph;
}

/** The store's record (its artifact present), else the first binhost's verified record. */
export async function baselineOf(
  store: LocalStore,
  lookup: BinhostLookup,
  node: PackageNode,
  graph: PreparedGraph,
): Promise<Baseline | undefined> {
  const id = graph.idOf.get(node)!;
  const stored = await storedRecord(store, node, id);
  if (stored) return { where: 'store', record: stored };
  const found = await lookup.find(node.target, id);
  return found ? { where: 'binhost', record: found.record, binhost: found.binhost } : undefined;
}

/** Without a rebuild: the store's artifact hashes to its digest; a binhost's artifact is there. */
export async function checkBaseline(
  store: LocalStore,
  node: PackageNode,
  graph: PreparedGraph,
  baseline: Baseline,
): Promise<Verdict> {
  const hex = digestHex(baseline.record.artifact.digest);
  if (baseline.where === 'store') {
    if (await store.verifyBlob(hex)) return verdictOf(node, graph, 'intact', 'store');
    return verdictOf(node, graph, 'corrupt', 'store', {
      detail: `the store's artifact ${store.blobFile(hex)} does not hash to ${baseline.record.artifact.digest}`,
    });
  }
  const { binhost } = baseline;
  try {
    // Its bytes are checked against the digest when a build fetches them; here, that they exist.
    if (await binhost.backend.has(blobPath(hex))) return verdictOf(node, graph, 'intact', binhost.name);
    return verdictOf(node, graph, 'missing', binhost.name, {
      detail: `binhost '${binhost.name}' has its record but not its artifact`,
    });
  } catch (error) {
    if (!(error instanceof BinhostError)) throw error;
    return verdictOf(node, graph, 'missing', binhost.name, {
      detail: `binhost '${binhost.name}': ${error.message}`,
    });
  }
}

/** The rebuilt artifact against the baseline: same digest, or which paths differ and how. */
export async function compare(
  node: PackageNode,
  baseline: Baseline,
  record: PackageRecord,
  stores: RebuildStores,
  signal: AbortSignal | undefined,
): Promise<Verdict> {
  const { store, fresh, graph } = stores;
  const where = baseline.where === 'store' ? 'store' : baseline.binhost.name;
  const baseHex = digestHex(baseline.record.artifact.digest);
  if (baseline.where === 'store' && !(await store.verifyBlob(baseHex))) {
    const matches = record.artifact.digest === baseline.record.artifact.digest;
    return verdictOf(node, graph, 'corrupt', where, {
      detail: `the store's artifact ${store.blobFile(baseHex)} does not hash to ${baseline.record.artifact.digest}; the rebuild ${matches ? 'matches' : 'does not match'} the record`,
    });
  }
  if (record.artifact.digest === baseline.record.artifact.digest)
    return verdictOf(node, graph, 'same', where);

  let baseFile = store.blobFile(baseHex);
  if (baseline.where === 'binhost') {
    try {
      const what = `artifact of ${record.id}`;
      if (!(await baseline.binhost.fetchBlob(fresh, baseHex, what, signal))) {
        return verdictOf(node, graph, 'missing', where, {
          detail: `binhost '${where}' has its record but not its artifact`,
        });
      }
      baseFile = fresh.blobFile(baseHex);
    } catch (error) {
      if (!(error instanceof BuilditError)) throw error;
      const result = error.code === 'BUILDIT_FETCH_SHA256' ? 'corrupt' : 'differs';
      return verdictOf(node, graph, result, where, {
        detail: `its artifact could not be fetched: ${error.message}`,
      });
    }
  }
  try {
    const diff = await diffArtifacts(
      {
        name: 'baseline',
        what: `${where} artifact ${baseline.record.artifact.digest}`,
        open: () => createReadStream(baseFile),
      },
      {
        name: 'rebuild',
        what: `rebuilt artifact ${record.artifact.digest}`,
        open: () => fresh.openBlob(digestHex(record.artifact.digest)),
      },
    );
    const compressionOnly = diff.sameEntries && record.artifact.diffId === baseline.record.artifact.diffId;
    const detail = compressionOnly
      ? 'the same tar, compressed differently (the gzip bytes differ)'
      : diff.sameEntries
        ? 'the same entries, but the tar bytes differ (headers the comparison does not show)'
        : diff.orderDiffers
          ? 'the entries are in another order'
          : undefined;
    return {
      ...verdictOf(node, graph, 'differs', where, { paths: diff.paths, ...(detail ? { detail } : {}) }),
      ...(compressionOnly ? { compressionOnly } : {}),
    };
  } catch (error) {
    // A baseline that is no readable artifact still differs: say why it could not be compared.
    const message = error instanceof Error ? error.message : String(error);
    return verdictOf(node, graph, 'differs', where, {
      detail: `the artifacts could not be compared: ${message}`,
    });
  }
}

export function verdictOf(
  node: PackageNode,
  graph: PreparedGraph,
  result: VerdictResult,
  baseline: string | undefined,
  extra: { paths?: PathDifference[]; detail?: string } = {},
): Verdict {
  return {
    node,
    id: graph.idOf.get(node)!,
    label: graph.labels.get(node) ?? 'dependency',
    result,
    baseline,
    paths: extra.paths ?? [],
    ...(extra.detail ? { detail: extra.detail } : {}),
  };
}
