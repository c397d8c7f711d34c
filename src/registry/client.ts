/**
 * A client of the OCI distribution API for one registry: blobs (HEAD, GET,
 * mount, monolithic and chunked upload) and manifests (GET, PUT). Bodies are
 * streamed, never held whole; what comes back is verified against its
 * digest. Auth is answered by auth.ts; sockets and their failures are
 * transport.ts's.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import { Readable, Transform } from 'node:stream';
import { Authenticator, authError, repositoryScope } from './auth.ts';
import { type Credentials, findCredentials } from './credentials.ts';
import { RegistryError, shownUrl } from './errors.ts';
import { apiHost } from './reference.ts';
import { isProtocolMismatch, readBody, Transport } from './transport.ts';

export interface RegistryClientOptions {
  /** `ghcr.io`, `localhost:5000`, `docker.io`. */
  registry: string;
  /** Plain http is tried (after https fails to handshake) only for a registry in --insecure-registry. */
  insecure: boolean;
  caFile?: string;
  env: NodeJS.ProcessEnv;
  home?: string;
  /** Default: findCredentials(registry, { env, home }). */
  credentials?: () => Promise<Credentials | undefined>;
  timeoutMs?: number;
  /** Blobs up to this size go in one PUT; default 64 MiB. */
  monolithicLimit?: number;
  /**
   * PATCH size for larger blobs; default: the whole blob in one PATCH, streamed (as docker and
   * skopeo push). 32 MiB chunks took 1.45x as long as one PATCH to docker-registry on loopback
   * (500 MiB: 1.78 s against 1.22 s).
   * Lower it for a registry or proxy that caps request bodies.
   */
  chunkSize?: number;
}

export interface Manifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export type PushBlobResult = 'present' | 'mounted' | 'uploaded';

const MIB = 1024 * 1024;
const MANIFEST_LIMIT = 8 * MIB;
const ERROR_BODY_LIMIT = 64 * 1024;
const MAX_REDIRECTS = 5;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

interface Call {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** A path under the registry (`/v2/…`) or an absolute URL (an upload Location). */
  target: string | URL;
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** Called per attempt; a body that cannot be made again is sent once (no retry after a 401). */
  body?: () => Buffer | Readable;
  once?: boolean;
  follow?: boolean;
}

export class RegistryClient {
  readonly registry: string;
  readonly #options: RegistryClientOptions;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  #base: Promise<URL> | undefined;

  constructor(options: RegistryClientOptions) {
    this.registry = options.registry;
    this.#options = options;
    this.#transport = new Transport({
      ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    const home = options.home ?? os.homedir();
    this.#auth = new Authenticator({
      registry: options.registry,
      credentials:
        options.credentials ?? (() => findCredentials(options.registry, { env: options.env, home })),
      fetch: async ({ method, url, headers, body }) => {
        const response = await this.#transport.send({ method, url, headers, ...(body ? { body } : {}) });
        return {
          status: response.statusCode ?? 0,
          body: await readBody(response, MIB, `${method} ${shownUrl(url)}`),
        };
      },
    });
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    checkDigest(digest);
    const { response, url } = await this.#call({
      method: 'HEAD',
      target: `/v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, 'pull')],
      follow: true,
    });
    response.resume();
    const status = response.statusCode ?? 0;
    if (status === 200) return true;
    if (status === 404) return false;
    throw await this.#failure('HEAD', url, response, `blob ${digest} in ${repo}`);
  }

  /**
   * Makes `digest` (of `size` bytes, read through `open`) present in `repo`: nothing when it is,
   * a cross-repository mount from one of `mountFrom` when the registry allows, else an upload.
   */
  async pushBlob(
    repo: string,
    digest: string,
    size: number,
    open: () => Readable,
    options: { mountFrom?: readonly string[] } = {},
  ): Promise<PushBlobResult> {
    checkDigest(digest);
    if (await this.hasBlob(repo, digest)) return 'present';
    const push = repositoryScope(repo, 'push');
    let location: URL | undefined;
    for (const from of options.mountFrom ?? []) {
      if (from === repo) continue;
      const q = new URLSearchParams({ mount: digest, from });
      const { response, url } = await this.#call({
        method: 'POST',
        target: `/v2/${repo}/blobs/uploads/?${q}`,
        scopes: [push, repositoryScope(from, 'pull')],
        headers: { 'content-length': '0' },
      });
      response.resume();
      if (response.statusCode === 201) return 'mounted';
      if (response.statusCode === 202) {
        location = this.#location(url, response);
        break; // the registry opened an upload instead
      }
      // Mounting is an optimization: a registry that refuses it still takes an upload.
    }
    location ??= await this.#startUpload(repo);
    const limit = this.#options.monolithicLimit ?? 64 * MIB;
    const final =
      size <= limit
        ? await this.#putBlob(repo, location, digest, {
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
            body: open,
          })
        : await this.#putBlob(repo, await this.#patchChunks(repo, location, size, open()), digest, {
            headers: { 'content-length': '0' },
          });
    const said = final.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== digest) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_DIGEST',
        `${this.registry}/${repo}: the registry stored blob ${said}, not ${digest}`,
        { transient: false },
      );
    }
    return 'uploaded';
  }

  /** PUTs a manifest's bytes as they are; returns its digest (checked against the registry's). */
  async pushManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const { response, url } = await this.#call({
      method: 'PUT',
      target: `/v2/${repo}/manifests/${reference}`,
      scopes: [repositoryScope(repo, 'push')],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
    });
    if (response.statusCode !== 201 && response.statusCode !== 200) {
      throw await this.#failure('PUT', url, response, `manifest ${repo}:${reference}`);
    }
    response.resume();
    const said = response.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== '' && said !== digest) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_DIGEST',
        `${this.registry}/${repo}:${reference}: the registry says the manifest is ${said}, its bytes are ${digest}`,
        {
          transient: false,
          hint: 'the registry rewrote the manifest; push to a registry that stores it as sent',
        },
      );
    }
    return digest;
  }

  async getManifest(repo: string, reference: string, accept: readonly string[]): Promise<Manifest> {
    const { response, url } = await this.#call({
      method: 'GET',
      target: `/v2/${repo}/manifests/${reference}`,
      scopes: [repositoryScope(repo, 'pull')],
      headers: { accept: accept.join(', ') },
      follow: true,
    });
    if (response.statusCode !== 200)
      throw await this.#failure('GET', url, response, `manifest ${repo}:${reference}`);
    const bytes = await readBody(response, MANIFEST_LIMIT, `GET ${shownUrl(url)}`);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (DIGEST.test(reference) && reference !== digest) {
      throw digestMismatch(`${this.registry}/${repo}@${reference}`, digest);
    }
    const contentType = (response.headers['content-type'] ?? '').split(';')[0]!.trim();
    const mediaType = mediaTypeOf(bytes) ?? contentType;
    return { bytes, mediaType, digest };
  }

  /** The blob's bytes, failing (BUILDIT_REGISTRY_DIGEST) at the end if they are not `digest`. */
  async getBlob(repo: string, digest: string): Promise<Readable> {
    checkDigest(digest);
    const { response, url } = await this.#call({
      method: 'GET',
      target: `/v2/${repo}/blobs/${digest}`,
      scopes: [repositoryScope(repo, 'pull')],
      follow: true,
    });
    if (response.statusCode !== 200)
      throw await this.#failure('GET', url, response, `blob ${digest} in ${repo}`);
    const hash = createHash('sha256');
    const where = `${this.registry}/${repo}@${digest}`;
    const verified = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
      flush(callback) {
        const got = `sha256:${hash.digest('hex')}`;
        callback(got === digest ? null : digestMismatch(where, got));
      },
    });
    response.on('error', (error) => verified.destroy(error));
    response.on('close', () => {
      if (!response.complete) {
        verified.destroy(
          new RegistryError(
            'BUILDIT_REGISTRY_UNREACHABLE',
            `GET ${shownUrl(url)}: the connection broke mid-blob`,
            {
              transient: true,
            },
          ),
        );
      }
    });
    verified.on('close', () => {
      if (!response.complete) response.destroy();
    });
    return response.pipe(verified);
  }

  close(): void {
    this.#transport.close();
  }

  async #startUpload(repo: string): Promise<URL> {
    const { response, url } = await this.#call({
      method: 'POST',
      target: `/v2/${repo}/blobs/uploads/`,
      scopes: [repositoryScope(repo, 'push')],
      headers: { 'content-length': '0' },
    });
    if (response.statusCode !== 202) throw await this.#failure('POST', url, response, `an upload to ${repo}`);
    response.resume();
    return this.#location(url, response);
  }

  async #putBlob(
    repo: string,
    location: URL,
    digest: string,
    request: { headers: Record<string, string>; body?: () => Readable },
  ): Promise<IncomingMessage> {
    const target = new URL(location);
    target.searchParams.set('digest', digest);
    const { response, url } = await this.#call({
      method: 'PUT',
      target,
      scopes: [repositoryScope(repo, 'push')],
      headers: request.headers,
      ...(request.body ? { body: request.body } : {}),
    });
    if (response.statusCode !== 201)
      throw await this.#failure('PUT', url, response, `blob ${digest} to ${repo}`);
    response.resume();
    return response;
  }

  /** PATCHes `source` in chunks, each streamed as it is read; returns where the final PUT goes. */
  async #patchChunks(repo: string, location: URL, size: number, source: Readable): Promise<URL> {
    const chunkSize = this.#options.chunkSize ?? size;
    const iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let pending: Buffer | undefined;
    let offset = 0;
    try {
      while (offset < size) {
        const length = Math.min(chunkSize, size - offset);
        const start = offset;
        // A lazily pulled slice of the source: at most one read's worth is in memory.
        async function* slice(): AsyncGenerator<Buffer> {
          let left = length;
          while (left > 0) {
            let piece = pending;
            pending = undefined;
            if (piece === undefined) {
              const next = await iterator.next();
              if (next.done)
                throw new Error(`the blob ended after ${start + length - left} of ${size} bytes`);
              piece = next.value;
            }
            if (piece.length > left) {
              pending = piece.subarray(left);
              piece = piece.subarray(0, left);
            }
            left -= piece.length;
            yield piece;
          }
        }
        const { response, url } = await this.#call({
          method: 'PATCH',
          target: location,
          scopes: [repositoryScope(repo, 'push')],
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${start}-${start + length - 1}`,
          },
          body: () => Readable.from(slice()),
          once: true,
        });
        if (response.statusCode !== 202) {
          throw await this.#failure(
            'PATCH',
            url,
            response,
            `bytes ${start}-${start + length - 1} to ${repo}`,
          );
        }
        response.resume();
        location = this.#location(url, response);
        offset += length;
      }
      if (pending !== undefined || !(await iterator.next()).done) {
        throw new Error(`the blob holds more than the ${size} bytes announced`);
      }
    } finally {
      source.destroy();
    }
    return location;
  }

  #location(url: URL, response: IncomingMessage): URL {
    const header = response.headers.location;
    if (!header) {
      throw new RegistryError(
        'BUILDIT_REGISTRY_REJECTED',
        `${shownUrl(url)}: the registry sent no Location`,
        {
          transient: false,
        },
      );
    }
    return new URL(header, url);
  }

  /** The registry's base URL: https, or http when https does not handshake and the registry is insecure. */
  #baseUrl(): Promise<URL> {
    return (this.#base ??= this.#ping());
  }

  async #ping(): Promise<URL> {
    const host = apiHost(this.registry);
    const attempt = async (scheme: string): Promise<URL> => {
      const base = new URL(`${scheme}://${host}/`);
      const url = new URL('/v2/', base);
      const response = await this.#transport.send({ method: 'GET', url, headers: {} });
      response.resume();
      if (response.statusCode === 401) this.#auth.challenged(header(response, 'www-authenticate'));
      return base;
    };
    try {
      return await attempt('https');
    } catch (error) {
      const refused = error instanceof RegistryError && error.code === 'BUILDIT_REGISTRY_UNREACHABLE';
      if (!this.#options.insecure || !(isProtocolMismatch(error) || refused)) throw error;
      return attempt('http');
    }
  }

  /** One request: authorized for its scopes, retried once after a 401, redirects followed for reads. */
  async #call(call: Call): Promise<{ response: IncomingMessage; url: URL }> {
    let base: URL;
    try {
      base = await this.#baseUrl();
    } catch (error) {
      this.#base = undefined; // the next call tries again
      throw error;
    }
    const first = typeof call.target === 'string' ? new URL(call.target, base) : call.target;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#auth.authorization(call.scopes);
      let url = first;
      let response: IncomingMessage;
      let body: Buffer | Readable | undefined;
      for (let hops = 0; ; hops++) {
        // Storage behind a redirect (S3, a CDN) gets no credentials of ours.
        const sendAuth = authorization !== undefined && url.host === first.host;
        body = call.body?.();
        response = await this.#transport.send({
          method: call.method,
          url,
          headers: { ...call.headers, ...(sendAuth ? { authorization } : {}) },
          ...(body === undefined ? {} : { body }),
        });
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (call.follow && [301, 302, 303, 307, 308].includes(status) && location && hops < MAX_REDIRECTS) {
          response.resume();
          url = new URL(location, url);
          continue;
        }
        break;
      }
      if (response.statusCode !== 401) return { response, url };
      const again = this.#auth.challenged(header(response, 'www-authenticate'));
      const detail = await errorDetail(response);
      // A refused upload's stream is not sent again: the retry opens its own.
      if (body !== undefined && !Buffer.isBuffer(body)) body.destroy();
      if (attempt === 0 && again && !call.once) {
        this.#auth.invalidate(call.scopes);
        continue;
      }
      throw authError(
        this.registry,
        await this.#auth.hasCredentials(),
        `${call.method} ${shownUrl(url)}${detail ? `: ${detail}` : ''}`,
      );
    }
  }

  async #failure(method: string, url: URL, response: IncomingMessage, what: string): Promise<RegistryError> {
    const status = response.statusCode ?? 0;
    const detail = await errorDetail(response);
    const message = `${method} ${shownUrl(url)} (${what}): HTTP ${status}${detail ? `: ${detail}` : ''}`;
    if (status === 401 || status === 403) {
      return authError(this.registry, await this.#auth.hasCredentials(), message);
    }
    if (status === 404) {
      return new RegistryError('BUILDIT_REGISTRY_NOT_FOUND', message, {
        transient: false,
        hint: `check the repository and tag on ${this.registry}`,
      });
    }
    const transient = status >= 500 || status === 429 || status === 408;
    return new RegistryError('BUILDIT_REGISTRY_REJECTED', message, {
      transient,
      ...(transient ? { hint: 'the registry failed; try again later' } : {}),
    });
  }
}

/** `CODE: message (detail)` for each entry of a registry's `{"errors":[…]}`; '' when there is none. */
export function formatRegistryErrors(body: Buffer): string {
  let value: { errors?: unknown };
  try {
    value = JSON.parse(body.toString('utf8')) as typeof value;
  } catch {
    return '';
  }
  if (!Array.isArray(value?.errors)) return '';
  return value.errors
    .map((e: { code?: unknown; message?: unknown; detail?: unknown }) => {
      const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
      const message = typeof e?.message === 'string' ? e.message : '';
      const detail =
        e?.detail === undefined || e.detail === null ? '' : JSON.stringify(e.detail).slice(0, 300);
      return `${code}${message ? `: ${message}` : ''}${detail && detail !== '{}' ? ` (${detail})` : ''}`;
    })
    .join('; ');
}

async function errorDetail(response: IncomingMessage): Promise<string> {
  try {
    const body = await readBody(response, ERROR_BODY_LIMIT, 'error');
    const formatted = formatRegistryErrors(body);
    if (formatted) return formatted;
    // Some answers are plain text ("Method not allowed" from a read-only registry): show their first line.
    const type = String(response.headers['content-type'] ?? '');
    if (!type.startsWith('text/plain')) return '';
    return body.toString('utf8').split('\n')[0]!.trim().slice(0, 200);
  } catch {
    return '';
  }
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function mediaTypeOf(bytes: Buffer): string | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    return typeof value.mediaType === 'string' ? value.mediaType : undefined;
  } catch {
    return undefined;
  }
}

function checkDigest(digest: string): void {
  if (!DIGEST.test(digest)) {
    throw new RegistryError('BUILDIT_REGISTRY_DIGEST', `${JSON.stringify(digest)} is not a sha256 digest`, {
      transient: false,
      exitCode: 2,
    });
  }
}

function digestMismatch(where: string, got: string): RegistryError {
  return new RegistryError(
    'BUILDIT_REGISTRY_DIGEST',
    `${where}: the registry sent bytes whose digest is ${got}`,
    {
      transient: false,
      hint: 'the registry or something between us changed the content; try again or report it to the registry',
    },
  );
}
