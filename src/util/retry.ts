/**
 * Trying again after a transient failure (a dropped connection, a 5xx, a 429), with exponential
 * backoff and jitter. What counts as transient is the caller's to say: an answer (404), a refused
 * credential or a bad certificate stays what it is however often it is asked.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Attempts in all, the first included; default 3. */
  attempts?: number;
  /** The pause before the second attempt, doubled for each one after; default 200 ms. */
  baseMs?: number;
}

export interface RetryCall<E extends Error> extends RetryPolicy {
  /** The failures worth another attempt. */
  transient(error: unknown): error is E;
  /** Told before each pause, with the failure and the number of the attempt that failed. */
  onRetry?: (error: E, attempt: number) => void;
  /** The last failure, once every attempt failed (say how many there were). */
  exhausted?: (error: E, attempts: number) => Error;
  signal?: AbortSignal;
}

export async function retrying<T, E extends Error>(once: () => Promise<T>, call: RetryCall<E>): Promise<T> {
  const attempts = Math.max(1, Math.floor(call.attempts ?? 3));
  const baseMs = Math.max(0, call.baseMs ?? 200);
  const { signal } = call;
  for (let attempt = 1; ; attempt++) {
    try {
      return await once();
    } catch (error) {
      if (!call.transient(error)) throw error;
      if (attempt >= attempts) throw attempts > 1 && call.exhausted ? call.exhausted(error, attempts) : error;
      if (signal?.aborted) throw signal.reason;
      call.onRetry?.(error, attempt);
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
