/**
 * The parts of ssh2 and ssh2-sftp-client buildit uses (they ship no type
 * declarations), requests that fail fast on a closed session, and streams that
 * keep several requests in flight.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { BinhostError } from './types.ts';

export interface SftpStats {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
}
export type Callback<T> = (error: SftpStatusError | undefined | null, value: T) => void;
export interface SftpStatusError extends Error {
  code?: number | string;
  level?: string;
}
export interface SftpWrapper extends EventEmitter {
  _extensions: Record<string, string>;
  open(path: string, flags: string, cb: Callback<Buffer>): void;
  close(handle: Buffer, cb: Callback<void>): void;
  fstat(handle: Buffer, cb: Callback<SftpStats>): void;
  stat(path: string, cb: Callback<SftpStats>): void;
  mkdir(path: string, cb: Callback<void>): void;
  unlink(path: string, cb: Callback<void>): void;
  rename(from: string, to: string, cb: Callback<void>): void;
  ext_openssh_rename(from: string, to: string, cb: Callback<void>): void;
  ext_openssh_fsync(handle: Buffer, cb: Callback<void>): void;
  realpath(path: string, cb: Callback<string>): void;
  read(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    cb: (error: SftpStatusError | undefined | null, bytesRead: number) => void,
  ): void;
  write(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    cb: (error: SftpStatusError | undefined | null) => void,
  ): void;
}
export interface SftpClient {
  sftp: SftpWrapper | undefined;
  client: EventEmitter;
  on(event: string, listener: (...args: unknown[]) => void): void;
  connect(config: Record<string, unknown>): Promise<unknown>;
  end(): Promise<unknown>;
}
export type SftpClientClass = new (name: string, callbacks: Record<string, () => void>) => SftpClient;

const require = createRequire(import.meta.url);
let modules: { SftpClient: SftpClientClass; parseKey: (data: Buffer) => unknown } | undefined;
export function ssh(): NonNullable<typeof modules> {
  if (!modules) {
    const SftpClient = require('ssh2-sftp-client') as SftpClientClass;
    const { utils } = require('ssh2') as { utils: { parseKey: (data: Buffer) => unknown } };
    modules = { SftpClient, parseKey: utils.parseKey };
  }
  return modules;
}

/**
 * One SFTP request. ssh2 silently drops a request made after the channel
 * closed (its callback never runs), so a lost session fails it here instead.
 */
export function ask<T>(session: { closed: boolean }, fn: (cb: Callback<T>) => void): Promise<T> {
  if (session.closed) return Promise.reject(connectionLost());
  return new Promise((resolve, reject) => {
    fn((error, value) => (error ? reject(error) : resolve(value)));
  });
}

export function connectionLost(): SftpStatusError {
  return Object.assign(new Error('Connection lost'), { code: SFTP_CONNECTION_LOST });
}

export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;
export const SFTP_NO_CONNECTION = 6;
export const SFTP_CONNECTION_LOST = 7;

// ---------------------------------------------------------------------------
// Streams with many requests in flight. ssh2's own streams wait for each
// reply before sending the next request: one round trip per 32–64 KiB, which
// over a 50 ms link caps a transfer near 1 MB/s. OpenSSH's sftp keeps 64
// requests in flight; so do these, with a bounded window.

export const PIECE = 64 * 1024;
export const WINDOW = 16;

/** Writes at increasing offsets of an open handle, up to WINDOW requests in flight. */
export class SftpUpload extends Writable {
  private position = 0;
  private inflight = 0;
  private failed: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly session: Session,
    private readonly handle: Buffer,
  ) {
    super({ highWaterMark: PIECE * 4 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.below(1).then(() => callback(this.failed ?? null), callback);
  }

  private async send(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; at += PIECE) {
      await this.below(WINDOW);
      if (this.failed) throw this.failed;
      if (this.session.closed) throw connectionLost();
      const piece = chunk.subarray(at, at + PIECE);
      const position = this.position;
      this.position += piece.length;
      this.inflight++;
      this.session.sftp.write(this.handle, piece, 0, piece.length, position, (error) => {
        this.inflight--;
        if (error) this.failed ??= error;
        this.wake?.();
      });
    }
  }

  /** Resolves once fewer than `n` writes are in flight (or one failed). */
  private below(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.inflight < n || this.failed) {
          this.wake = undefined;
          resolve();
        } else {
          this.wake = check;
        }
      };
      check();
    });
  }
}

/**
 * The `size` bytes of an open handle, read ahead WINDOW pieces at a time and
 * delivered in order. The handle is closed when the stream ends or is destroyed.
 */
export class SftpDownload extends Readable {
  private requested = 0;
  private delivered = 0;
  private readonly arrived = new Map<number, Buffer>();
  private handleOpen = true;

  constructor(
    private readonly session: Session,
    private readonly handle: Buffer,
    private readonly size: number,
    private readonly mapError: (error: unknown) => Error,
  ) {
    super({ highWaterMark: PIECE * 4 });
  }

  override _read(): void {
    if (this.delivered >= this.size) {
      this.push(null);
      return;
    }
    if (this.session.closed) {
      this.destroy(this.mapError(connectionLost()));
      return;
    }
    while (this.requested < this.size && this.requested - this.delivered < PIECE * WINDOW) {
      const position = this.requested;
      const length = Math.min(PIECE, this.size - position);
      this.requested += length;
      const buffer = Buffer.allocUnsafe(length);
      this.session.sftp.read(this.handle, buffer, 0, length, position, (error, bytesRead) => {
        if (this.destroyed) return;
        if (error) return void this.destroy(this.mapError(error));
        // The handle pins the file: it only ends early when someone truncated it in place.
        if (bytesRead !== length) {
          return void this.destroy(
            this.mapError(
              new BinhostError(
                'BUILDIT_BINHOST_TRUNCATED',
                `the file ended after ${position + bytesRead} of ${this.size} bytes`,
                {
                  transient: true,
                },
              ),
            ),
          );
        }
        this.arrived.set(position, buffer);
        this.deliver();
      });
    }
  }

  private deliver(): void {
    let wanted = true;
    for (let next = this.arrived.get(this.delivered); next; next = this.arrived.get(this.delivered)) {
      this.arrived.delete(this.delivered);
      this.delivered += next.length;
      wanted = this.push(next);
    }
    if (this.delivered >= this.size) this.push(null);
    else if (wanted) this._read();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.arrived.clear();
    // Not waited for: on a dead connection the reply never comes.
    if (this.handleOpen && !this.session.closed) this.session.sftp.close(this.handle, () => {});
    this.handleOpen = false;
    callback(error);
  }
}

export interface Session {
  client: SftpClient;
  sftp: SftpWrapper;
  /** Absolute folder of the binhost on the server. */
  root: string;
  closed: boolean;
}
