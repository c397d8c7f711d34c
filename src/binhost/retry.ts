/**
 * Retry as a wrapper around any backend (STYLE: "caching, retry, concurrency
 * limits are wrappers"): only a BinhostError that says `transient` is tried
 * again. An absent path is an answer, not a failure; a refused credential,
 * a bad host key or a bad path stays what it is however often it is asked.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BinhostError, type BinhostBackend } from './types.ts';

export interface RetryOptions {
  /** Attempts in all, the first included; default 3. */
  attempts?: number;
  /** The pause before the second attempt, doubled for each one after; default 200 ms. */
  baseMs?: number;
  /** Told before each pause, with the failure and the number of the attempt that failed. */
  onRetry?: (error: BinhostError, attempt: number) => void;
}

export function withRetry(backend: BinhostBackend, options: RetryOptions = {}): BinhostBackend {
  const attempts = Math.max(1, Math.floor(options.attempts ?? 3));
  const baseMs = Math.max(0, options.baseMs ?? 200);

  async function retrying<T>(signal: AbortSignal | undefined, once: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once();
      } catch (error) {
        if (!(error instanceof BinhostError) || !error.transient) throw error;
        if (attempt >= attempts) throw attempts === 1 ? error : exhausted(error, attempts);
        if (signal?.aborted) throw signal.reason;
        options.onRetry?.(error, attempt);
        // Jitter keeps many workers that failed together from retrying together.
        const pause = baseMs * 2 ** (attempt - 1);
        await sleep(pause / 2 + Math.random() * (pause / 2), undefined, signal ? { signal } : {}).catch(
          (error: unknown) => {
            throw signal?.aborted ? signal.reason : error;
          },
        );
      }
    }
  }

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
