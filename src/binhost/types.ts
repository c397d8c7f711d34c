/**
 * One interface for every binhost: the local folder, HTTPS, SFTP. Backends
 * only move bytes at paths of the binhost layout (SPEC §5); what the bytes
 * mean, and whether to trust them, is decided above them (binhost/verify.ts).
 */
import type { Readable } from 'node:stream';
import { BuilditError } from '../errors.ts';

export interface BinhostBackend {
  /** For messages and logs; credentials redacted. */
  readonly describe: string;
  /** Whether put() is possible (an HTTPS binhost is read-only). */
  readonly writable: boolean;
  /** The bytes at `path` (relative, '/'-separated, layout path), or undefined when absent. */
  get(path: string, signal?: AbortSignal): Promise<Readable | undefined>;
  /** Whether `path` exists. */
  has(path: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Write `path` atomically: under a temporary name in the same folder, then
   * renamed, creating folders as needed. `body` is called once per attempt.
   */
  put(path: string, body: () => Readable, signal?: AbortSignal): Promise<void>;
  /** Release connections. */
  close(): Promise<void>;
}

/**
 * A binhost failure. `transient` says whether trying again may help
 * (5xx, reset, timeout) or not (404 is not an error at all; 403, bad host key).
 */
export class BinhostError extends BuilditError {
  readonly transient: boolean;

  constructor(
    code: string,
    message: string,
    options: { transient: boolean; hint?: string; cause?: unknown; exitCode?: 1 | 2 },
  ) {
    super(code, message, {
      exitCode: options.exitCode ?? 1,
      ...(options.hint ? { hint: options.hint } : {}),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.transient = options.transient;
  }
}

/** Where a binhost is, after parsing a config entry or a --discover location (binhost/location.ts). */
export type Location =
  | { kind: 'file'; root: string }
  | { kind: 'http'; url: string /* base URL ending in '/', http: or https: */; caFile?: string }
  | {
      kind: 'sftp';
      host: string;
      port: number;
      user?: string;
      /** Relative to the SFTP login folder unless `absolute`. */
      path: string;
      absolute: boolean;
      identityFile?: string;
      knownHosts?: string;
    };
