/**
 * A registry failure. Like go-containerregistry's transport errors, it says
 * whether trying again may help (`transient`: a refused connection, a 5xx,
 * 429) or not (bad credentials, a rejected manifest, a certificate to fix).
 * Messages never hold a password, a token or an upload URL's query.
 */
import { BuilditError } from '../errors.ts';
import { retrying, type RetryPolicy } from '../util/retry.ts';

export type RegistryErrorCode =
  | 'BUILDIT_REGISTRY_REFERENCE'
  | 'BUILDIT_REGISTRY_AUTH'
  | 'BUILDIT_REGISTRY_REJECTED'
  | 'BUILDIT_REGISTRY_NOT_FOUND'
  | 'BUILDIT_REGISTRY_UNREACHABLE'
  | 'BUILDIT_REGISTRY_TLS'
  | 'BUILDIT_REGISTRY_DIGEST'
  | 'BUILDIT_REGISTRY_PLATFORM'
  | 'BUILDIT_REGISTRY_CREDENTIALS'
  | 'BUILDIT_REGISTRY_LAYOUT';

export class RegistryError extends BuilditError {
  override readonly code: RegistryErrorCode;
  readonly transient: boolean;

  constructor(
    code: RegistryErrorCode,
    message: string,
    options: { transient: boolean; hint?: string; cause?: unknown; exitCode?: 1 | 2 },
  ) {
    super(code, message, {
      exitCode: options.exitCode ?? 1,
      ...(options.hint ? { hint: options.hint } : {}),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = 'RegistryError';
    this.code = code;
    this.transient = options.transient;
  }
}

/** A URL for a message: scheme, host and path only (upload URLs carry signed state in the query). */
export function shownUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/**
 * `once`, tried again (3 attempts in all, backing off from 200 ms) while it fails with a transient
 * RegistryError: a dropped connection, a 5xx, a 429. Each retry is told to `onRetry` first.
 */
export function retryRegistry<T>(
  once: () => Promise<T>,
  options: RetryPolicy & { onRetry?: (error: RegistryError, attempt: number) => void } = {},
): Promise<T> {
  return retrying(once, {
    ...options,
    transient: (error): error is RegistryError => error instanceof RegistryError && error.transient,
    exhausted: (error, attempts) =>
      new RegistryError(error.code, `${error.message} (${attempts} attempts)`, {
        transient: true,
        exitCode: error.exitCode === 2 ? 2 : 1,
        cause: error,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
      }),
  });
}
