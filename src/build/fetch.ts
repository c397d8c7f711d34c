/**
 * Distfiles (source tarballs, remote patches) into the store, by sha256.
 *
 * The bytes are untrusted until the store has hashed them: they are streamed
 * straight into `store.putBlob`, which refuses a mismatch and leaves nothing
 * behind. This module only moves bytes and decides what a failure means:
 * whether it may pass if tried again (5xx, reset, timeout) or not (4xx, a
 * wrong digest — a mismatch is never retried, since a second copy of
 * tampered bytes proves nothing).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BuilditError } from '../errors.ts';
import type { BlobWritten, LocalStore } from '../store/store.ts';
import { redactUrl, redactUrlsIn } from '../util/redact.ts';

export interface FetchDistfileOptions {
  /** Injected for tests and proxies; default the global fetch. */
  fetch?: typeof fetch;
  /** How often a transient failure is tried again: default 2, i.e. 3 attempts in all. */
  retries?: number;
  /** First pause between attempts, doubled each time; default 200 ms. */
  backoffMs?: number;
  /** A request that receives nothing for this long is dropped (and retried); default 60 s. */
  idleTimeoutMs?: number;
  /** Cancels the download; the abort reason is thrown as it is, never retried. */
  signal?: AbortSignal;
  /** Told (with the redacted URL) when the store lacks the blob and it is being fetched. */
  onNetwork?: (shownUrl: string) => void;
}

export interface Distfile {
  hex: string;
  size: number;
  /** The store had the blob: no network. */
  cached: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;
const DEFAULT_RETRIES = 2;
const DEFAULT_BACKOFF_MS = 200;
const DEFAULT_IDLE_MS = 60_000;

// Certificate problems do not heal by retrying; everything else network-level may.
const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The blob of `url` in the store. With `sha256` the bytes must hash to it
 * (and a blob already present means no network at all); without it, this is
 * trust on first use and the caller pins the returned hex.
 */
export async function fetchDistfile(
  store: LocalStore,
  url: string,
  sha256: string | undefined,
  options: FetchDistfileOptions = {},
): Promise<Distfile> {
  const shown = redactUrl(url);
  const expected = sha256 === undefined ? undefined : checkDigest(sha256, shown);
  // The URL is checked even when the blob is there: an input mistake is one in every store.
  const target = parseUrl(url, shown);
  if (!['file:', 'http:', 'https:'].includes(target.protocol)) {
    throw new BuilditError('BUILDIT_FETCH_SCHEME', `${shown}: unsupported URL scheme ${target.protocol}`, {
      exitCode: 2,
      hint: 'distfiles are fetched over https://, http:// or file:// (a mirror can serve the same bytes: they are checked by sha256)',
    });
  }
  if (expected !== undefined && (await store.hasBlob(expected))) {
    const { size } = await stat(store.blobFile(expected));
    return { hex: expected, size, cached: true };
  }
  const pin = expected === undefined ? undefined : { hex: expected, what: shown };
  options.onNetwork?.(shown);
  const written =
    target.protocol === 'file:'
      ? await fromFile(store, target, shown, pin)
      : await fromHttp(store, target, shown, pin, options);
  return { ...written, cached: false };
}

function checkDigest(sha256: string, shown: string): string {
  const hex = sha256.toLowerCase();
  if (!HEX64.test(hex)) {
    // Also keeps a hostile lock file from naming a path outside blobs/ for hasBlob.
    throw new BuilditError('BUILDIT_FETCH_DIGEST', `${shown}: ${JSON.stringify(sha256)} is not a sha256`, {
      exitCode: 2,
      hint: 'a sha256 is 64 hexadecimal digits',
    });
  }
  return hex;
}

function parseUrl(url: string, shown: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new BuilditError('BUILDIT_FETCH_URL', `${shown} is not a valid URL`, { exitCode: 2 });
  }
}

type Pin = { hex: string; what: string } | undefined;

async function fromFile(store: LocalStore, target: URL, shown: string, pin: Pin): Promise<BlobWritten> {
  let file: string;
  try {
    file = fileURLToPath(target);
  } catch (error) {
    throw new BuilditError('BUILDIT_FETCH_URL', `${shown}: ${(error as Error).message}`, { exitCode: 2 });
  }
  // Opened first: "cannot read" is then about the file, and a failure while
  // streaming (the store's disk full) keeps its own name.
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new BuilditError('BUILDIT_FETCH_FILE', `cannot read ${shown}: ${describe(error)}`, {
      exitCode: 1,
      cause: error,
    });
  }
  try {
    return await store.putBlob(handle.createReadStream({ autoClose: false }), pin);
  } finally {
    await handle.close();
  }
}

/** A failure that another attempt may cure. */
class Transient extends Error {
  constructor(
    readonly code: string,
    readonly what: string,
    readonly hint: string,
    override readonly cause: unknown,
  ) {
    super(what);
  }
}

async function fromHttp(
  store: LocalStore,
  target: URL,
  shown: string,
  pin: Pin,
  options: FetchDistfileOptions,
): Promise<BlobWritten> {
  const attempts = Math.max(0, Math.floor(options.retries ?? DEFAULT_RETRIES)) + 1;
  const backoff = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await httpOnce(store, target, shown, pin, options);
    } catch (error) {
      if (!(error instanceof Transient)) throw error;
      if (attempt >= attempts) {
        const tries = attempts === 1 ? '' : ` (${attempts} attempts)`;
        throw new BuilditError(error.code, `${error.what}${tries}`, {
          exitCode: 1,
          hint: error.hint,
          cause: error.cause,
        });
      }
      await sleep(backoff * 2 ** (attempt - 1), undefined, { signal: options.signal });
    }
  }
}

async function httpOnce(
  store: LocalStore,
  target: URL,
  shown: string,
  pin: Pin,
  options: FetchDistfileOptions,
): Promise<BlobWritten> {
  const doFetch = options.fetch ?? fetch;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      idle.abort(new Error(`no data for ${idleMs / 1000} s`));
    }, idleMs);
  };
  const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
  const network = (error: unknown): unknown => {
    if (options.signal?.aborted) return options.signal.reason;
    const reason = timedOut ? `no data for ${idleMs / 1000} s` : describe(error);
    const what = `cannot download ${shown}: ${reason}`;
    if (!timedOut && TLS_CODES.has(errorCode(error) ?? '')) {
      return new BuilditError('BUILDIT_FETCH_NETWORK', what, {
        exitCode: 1,
        cause: error,
        hint: 'the server certificate is not trusted: add its CA with NODE_EXTRA_CA_CERTS (or ca-file:)',
      });
    }
    return new Transient(
      'BUILDIT_FETCH_NETWORK',
      what,
      'the connection failed; check the network or a proxy, or try again later',
      error,
    );
  };

  const request = withoutCredentials(target);
  arm();
  try {
    let response: Response;
    try {
      response = await doFetch(request.url, {
        headers: request.headers,
        redirect: 'follow',
        signal,
      });
    } catch (error) {
      throw network(error);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw httpFailure(response, shown);
    }
    // Only an error reading the body is the network's; one the store raises
    // (a mismatch, a full disk) is not, and must not be retried as one.
    let bodyError: unknown;
    async function* chunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
      const reader = body.getReader();
      try {
        for (;;) {
          arm();
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (error) {
            bodyError = error;
            throw error;
          }
          clearTimeout(timer); // time the store spends writing is not the server's
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }
    const body = response.body ?? new ReadableStream<Uint8Array>();
    try {
      return await store.putBlob(Readable.from(chunks(body), { objectMode: false }), pin);
    } catch (error) {
      if (bodyError === undefined || error instanceof BuilditError) throw error;
      throw network(bodyError);
    }
  } finally {
    clearTimeout(timer);
  }
}

function httpFailure(response: Response, shown: string): BuilditError | Transient {
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  const what = `cannot download ${shown}: ${status}`;
  // 408 and 429 say "not now", like a 5xx; every other 4xx will answer the same again.
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    return new Transient(
      'BUILDIT_FETCH_HTTP',
      what,
      'the server failed; try again later or use a mirror',
      undefined,
    );
  }
  const hint =
    response.status === 401 || response.status === 403
      ? 'the server refused access: check the credentials in the URL or that the file is public'
      : response.status === 404 || response.status === 410
        ? 'the file is not (or no longer) there: upstream may have moved it; a mirror with the same bytes works, they are checked by sha256'
        : 'the server refused the request';
  return new BuilditError('BUILDIT_FETCH_HTTP', what, { exitCode: 1, hint });
}

/**
 * fetch() refuses URLs with credentials: move `user:password@` into a Basic
 * Authorization header (as curl does). `accept-encoding: identity` so that a
 * server that would compress `.tar.gz` again does not get its bytes decoded:
 * what is hashed must be the file itself.
 */
function withoutCredentials(target: URL): { url: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (target.username === '' && target.password === '') return { url: target.href, headers };
  const bare = new URL(target.href);
  const user = decodeURIComponent(bare.username);
  const password = decodeURIComponent(bare.password);
  bare.username = '';
  bare.password = '';
  headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  return { url: bare.href, headers };
}

function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** "other side closed (UND_ERR_SOCKET)": the innermost message says what happened; URLs redacted. */
function describe(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.message) message = e.message;
  }
  const code = errorCode(error);
  const text = code && !message.includes(code) ? `${message} (${code})` : message;
  return redactUrlsIn(text);
}
