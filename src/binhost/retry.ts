/**
 * Retry as a wrapper around any backend (STYLE: "caching, retry, concurrency
 * limits are wrappers"): only a BinhostError that says `transient` is tried
 * again. An absent path is an answer, not a failure; a refused credential,
 * a bad host key or a bad path stays what it is however often it is asked.
 */
import type { Readable } from 'node:stream';
import { retrying as retry, type RetryPolicy } from '../util/retry.ts';
import { BinhostError, type BinhostBackend } from './types.ts';

export interface RetryOptions extends RetryPolicy {
  /** Told before each pause, with the failure and the number of the attempt that failed. */
  onRetry?: (error: BinhostError, attempt: number) => void;
}

export function withRetry(backend: BinhostBackend, options: RetryOptions = {}): BinhostBackend {
  const retrying = <T>(signal: AbortSignal | undefined, once: () => Promise<T>): Promise<T> =>
    retry(once, {
      ...options,
      transient: (error): error is BinhostError => error instanceof BinhostError && error.transient,
      exhausted,
      ...(signal ? { signal } : {}),
    });

  return {
    get describe() {
      return backend.describe;
    },
    get writable() {
      return backend.writable;
    },
    get: (path: string, signal?: AbortSignal): Promise<Readable | undefined> =>
      retrying(signal, () => backend.get(path, signal)),
    has: (path: string, signal?: AbortSignal): Promise<boolean> =>
      retrying(signal, () => backend.has(path, signal)),
    put: (path: string, body: () => Readable, signal?: AbortSignal): Promise<void> =>
      retrying(signal, () => backend.put(path, body, signal)),
    close: () => backend.close(),
  };
}

/** The last failure, saying that it was not the first. */
function exhausted(error: BinhostError, attempts: number): BinhostError {
  return new BinhostError(error.code, `${error.message} (${attempts} attempts)`, {
    transient: true,
    exitCode: error.exitCode,
    cause: error,
    ...(error.hint === undefined ? {} : { hint: error.hint }),
  });
}
