/**
 * Answers a registry's 401 challenges (distribution's token auth): Basic
 * gets the credentials as a header; Bearer gets a token from the realm for
 * the scopes an operation needs, with the credentials as Basic (anonymous
 * without), or an identity token as an OAuth2 refresh token. Tokens are
 * cached per scope set until shortly before they expire.
 */
import { type Challenge, parseWwwAuthenticate, pickChallenge } from './challenge.ts';
import type { Credentials } from './credentials.ts';
import { RegistryError, shownUrl } from './errors.ts';

export { parseWwwAuthenticate, pickChallenge, repositoryScope, type Challenge } from './challenge.ts';

/** A small HTTP call for the token endpoint, supplied by the client (its transport). */
export type TokenFetch = (request: {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
}) => Promise<{ status: number; body: Buffer }>;

export interface AuthenticatorOptions {
  registry: string;
  /** Loaded once, on the first challenge. */
  credentials: () => Promise<Credentials | undefined>;
  fetch: TokenFetch;
  now?: () => number;
}

const DEFAULT_TOKEN_SECONDS = 60;

export class Authenticator {
  readonly registry: string;
  readonly #options: AuthenticatorOptions;
  #challenge: Challenge | undefined;
  #credentials: Promise<Credentials | undefined> | undefined;
  readonly #tokens = new Map<string, { header: string; expiresAt: number }>();

  constructor(options: AuthenticatorOptions) {
    this.registry = options.registry;
    this.#options = options;
  }

  /** Remembers what a 401 asked for. Returns whether answering it may change the outcome. */
  challenged(wwwAuthenticate: string | undefined): boolean {
    const challenge = wwwAuthenticate ? pickChallenge(parseWwwAuthenticate(wwwAuthenticate)) : undefined;
    if (!challenge) return false;
    this.#challenge = challenge;
    return true;
  }

  /** Whether a challenge is known (so requests will carry an Authorization header). */
  get active(): boolean {
    return this.#challenge !== undefined;
  }

  /** Whether credentials were found for this registry (for messages). */
  async hasCredentials(): Promise<boolean> {
    return (await this.#loadCredentials()) !== undefined;
  }

  /** Forgets the token for `scopes` (the registry refused it). */
  invalidate(scopes: readonly string[]): void {
    this.#tokens.delete(scopeKey(scopes));
  }

  /** The Authorization header for a request needing `scopes`, or undefined when none is called for. */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    const credentials = await this.#loadCredentials();
    if (challenge.scheme === 'basic') {
      return credentials && 'password' in credentials
        ? basic(credentials.username, credentials.password)
        : undefined;
    }
    // A challenge's own scope (insufficient_scope) joins what the operation needs.
    const all = [...new Set([...scopes, ...(challenge.params.scope?.split(' ').filter(Boolean) ?? [])])];
    const key = scopeKey(all);
    const now = (this.#options.now ?? Date.now)();
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > now) return cached.header;
    const header = await this.#fetchToken(challenge, all, credentials, now, key);
    return header;
  }

  async #fetchToken(
    challenge: Challenge,
    scopes: readonly string[],
    credentials: Credentials | undefined,
    now: number,
    key: string,
  ): Promise<string> {
    const realm = challenge.params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new RegistryError(
        'BUILDIT_REGISTRY_AUTH',
        `${this.registry} asked for a Bearer token without a usable realm (${JSON.stringify(realm ?? '')})`,
        { transient: false },
      );
    }
    const service = challenge.params.service;
    let answer: { status: number; body: Buffer };
    if (credentials && 'identityToken' in credentials) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: 'buildit' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      form.set('refresh_token', credentials.identityToken);
      answer = await this.#options.fetch({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
      });
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (credentials) headers.authorization = basic(credentials.username, credentials.password);
      answer = await this.#options.fetch({ method: 'GET', url, headers });
    }
    if (answer.status === 401 || answer.status === 403) {
      throw authError(
        this.registry,
        credentials !== undefined,
        `the token service ${shownUrl(url)} said ${answer.status}`,
      );
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_AUTH',
        `the token service ${shownUrl(url)} of ${this.registry} answered HTTP ${answer.status}`,
        {
          transient: answer.status >= 500 || answer.status === 429,
          hint: 'the registry’s token service failed; try again later',
        },
      );
    }
    const parsed = parseTokenResponse(answer.body);
    if (!parsed) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_AUTH',
        `the token service ${shownUrl(url)} of ${this.registry} answered without a token`,
        { transient: false },
      );
    }
    const header = `Bearer ${parsed.token}`;
    const lifetime = parsed.expiresIn > 20 ? parsed.expiresIn - 10 : parsed.expiresIn / 2;
    this.#tokens.set(key, { header, expiresAt: now + lifetime * 1000 });
    return header;
  }

  #loadCredentials(): Promise<Credentials | undefined> {
    return (this.#credentials ??= this.#options.credentials());
  }
}

/** `{ token | access_token, expires_in? }` → the token and its lifetime in seconds. */
export function parseTokenResponse(body: Buffer): { token: string; expiresIn: number } | undefined {
  let value: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    value = JSON.parse(body.toString('utf8')) as typeof value;
  } catch {
    return undefined;
  }
  const token =
    typeof value.token === 'string' && value.token
      ? value.token
      : typeof value.access_token === 'string' && value.access_token
        ? value.access_token
        : undefined;
  if (!token) return undefined;
  const expiresIn =
    typeof value.expires_in === 'number' && value.expires_in > 0 ? value.expires_in : DEFAULT_TOKEN_SECONDS;
  return { token, expiresIn };
}

/**
 * The registry refused us. The message names the registry, never a secret; the hint says where
 * credentials come from.
 */
export function authError(registry: string, hadCredentials: boolean, detail?: string): RegistryError {
  const what = hadCredentials
    ? `${registry} refused the credentials buildit sent`
    : `${registry} requires credentials and none were found`;
  return new RegistryError('BUILDIT_REGISTRY_AUTH', detail ? `${what} (${detail})` : what, {
    transient: false,
    hint: hadCredentials
      ? `check them: docker login ${registry}, the entry for ${registry} in ~/.docker/config.json, or BUILDIT_REGISTRY_USERNAME/BUILDIT_REGISTRY_PASSWORD`
      : `run docker login ${registry}, add it to ~/.docker/config.json, or set BUILDIT_REGISTRY_USERNAME and BUILDIT_REGISTRY_PASSWORD`,
  });
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
