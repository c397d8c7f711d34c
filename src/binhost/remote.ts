/**
 * A binhost seen through buildit's layout, with trust: records are untrusted
 * input, used only when a trusted key signed them and their artifact's bytes
 * match its digest. Backends below move bytes; this is the one place that
 * decides whether to believe them.
 */
import type { Readable } from 'node:stream';
import { BuilditError } from '../errors.ts';
import type { Target } from '../recipe/types.ts';
import { blobPath, recordPath } from '../store/layout.ts';
import { recordSchema, type PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { trustedSigner, type PublicKey } from '../trust/keys.ts';
import type { BinhostBackend } from './types.ts';

/** Records are small; a binhost answering more is not to be believed. */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export type RecordAnswer =
  | { kind: 'hit'; record: PackageRecord; signer: string }
  | { kind: 'miss' }
  | { kind: 'rejected'; reason: string };

export class RemoteBinhost {
  readonly name: string;
  readonly backend: BinhostBackend;
  private readonly trusted: readonly PublicKey[];

  constructor(name: string, backend: BinhostBackend, trusted: readonly PublicKey[]) {
    this.name = name;
    this.backend = backend;
    this.trusted = trusted;
  }

  async findRecord(target: Target, id: string, signal?: AbortSignal): Promise<RecordAnswer> {
    const stream = await this.backend.get(recordPath(target, id), signal);
    if (!stream) return { kind: 'miss' };
    let json: unknown;
    try {
      json = JSON.parse(await readLimited(stream, MAX_RECORD_BYTES));
    } catch (error) {
      if (error instanceof BuilditError) throw error;
      return { kind: 'rejected', reason: 'its record is not valid JSON' };
    }
    const parsed = recordSchema.safeParse(json);
    if (!parsed.success)
      return {
        kind: 'rejected',
        reason: `its record does not match buildit-pkg/v1 (${parsed.error.issues[0]?.message ?? ''})`,
      };
    const record = parsed.data;
    if (record.id !== id || record.target.os !== target.os || record.target.arch !== target.arch) {
      return { kind: 'rejected', reason: 'its record describes another package' };
    }
    const signer = trustedSigner(json as Record<string, unknown>, this.trusted);
    if (!signer) {
      const ids = record.signatures.map((s) => s.keyId);
      return {
        kind: 'rejected',
        reason: ids.length
          ? `its record is signed by no trusted key (signed by ${ids.join(', ')})`
          : 'its record is unsigned',
      };
    }
    return { kind: 'hit', record, signer };
  }

  /** Copy a blob into the store, verified against its digest on the way. */
  async fetchBlob(store: LocalStore, hex: string, what: string, signal?: AbortSignal): Promise<boolean> {
    if (await store.hasBlob(hex)) return true;
    const stream = await this.backend.get(blobPath(hex), signal);
    if (!stream) return false;
    await store.putBlob(stream, { hex, what: `${what} from binhost '${this.name}'` });
    return true;
  }
}

async function readLimited(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new SyntaxError('record too large');
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
