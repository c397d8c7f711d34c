/**
 * A read-only binhost served over HTTPS (or HTTP) by any static file server.
 *
 * The answers are untrusted bytes: this module only says whether they came
 * whole (Content-Length against what arrived) and what a failure means
 * (absent, refused, worth retrying, or a certificate to fix). Credentials in
 * the URL travel as a Basic Authorization header and are never repeated in a
 * message (redactUrl).
 */
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform, type Readable } from 'node:stream';
import tls from 'node:tls';
import { redactUrl, redactUrlsIn } from '../util/redact.ts';
import { layoutSegments } from './file.ts';
import { NETWORK_CODES, TLS_CODES } from '../util/net-errors.ts';
import { BinhostError, type BinhostBackend } from './types.ts';

export interface HttpBinhostOptions {
  /** The binhost's base URL, http: or https:, may carry `user:password@`. */
  url: string;
  /** PEM file of CAs trusted besides the system ones (`ca-file:`). */
  caFile?: string;
  /** A request that receives nothing for this long fails (transient); default 30 s. */
  timeoutMs?: number;
  /** Connections kept per host; default 16. */
  maxSockets?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// As many as the lookup keeps in flight (binhost/lookup.ts): a static file server takes that easily.
const DEFAULT_MAX_SOCKETS = 32;
const MAX_REDIRECTS = 5;

// Network faults may pass (NETWORK_CODES); anything certificate-shaped will not.
export function openHttpBinhost(options: HttpBinhostOptions): BinhostBackend {
  const shown = redactUrl(options.url);
  const { base, query, authorization } = parseBase(options.url, shown);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let agent: Promise<http.Agent> | undefined;
  const agentFor = (): Promise<http.Agent> =>
    (agent ??= makeAgent(base.protocol, options.maxSockets ?? DEFAULT_MAX_SOCKETS, options.caFile));

  /** The response to `method` on `layoutPath`, following redirects on the same scheme. */
  async function request(
    method: 'GET' | 'HEAD',
    layoutPath: string,
    signal: AbortSignal | undefined,
  ): Promise<{ sent: Sent; url: URL }> {
    let url = new URL(layoutSegments(layoutPath).map(encodeURIComponent).join('/'), base);
    url.search = query;
    const useAgent = await agentFor();
    for (let hops = 0; ; hops++) {
      const sameOrigin = url.origin === base.origin;
      const sent = await send(url, method, {
        agent: useAgent,
        timeoutMs,
        signal,
        // A redirect to another host does not get our credentials.
        headers: authorization && sameOrigin ? { authorization } : {},
      });
      const status = sent.response.statusCode ?? 0;
      const location = sent.response.headers.location;
      if (status >= 300 && status < 400 && status !== 304 && location) {
        sent.response.resume();
        const next = new URL(location, url);
        if (next.protocol !== base.protocol || hops >= MAX_REDIRECTS) {
          throw new BinhostError(
            'BUILDIT_BINHOST_HTTP',
            `${method} ${redactUrl(url.href)}: HTTP ${status} redirects to ${redactUrl(next.href)}, which is not followed`,
            { transient: false, hint: `point the binhost location at where its files are (${shown})` },
          );
        }
        url = next;
        continue;
      }
      return { sent, url };
    }
  }

  /** undefined for absent; throws for everything that is neither there nor absent. */
  function judge(method: string, url: URL, response: IncomingMessage): 'ok' | 'absent' {
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return 'ok';
    response.resume();
    if (status === 404 || status === 410) return 'absent';
    const what = `${method} ${redactUrl(url.href)}: HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd();
    if (status === 401 || status === 403) {
      throw new BinhostError('BUILDIT_BINHOST_DENIED', what, {
        transient: false,
        hint: authorization
          ? 'the server refused the credentials in the binhost URL; check the user and token'
          : 'the server wants credentials: put them in the binhost URL (https://user:token@host/path/)',
      });
    }
    const transient = status >= 500 || status === 408 || status === 429;
    throw new BinhostError('BUILDIT_BINHOST_HTTP', what, {
      transient,
      ...(transient ? { hint: 'the server failed; try again later' } : {}),
    });
  }

  return {
    describe: shown,
    writable: false,

    async get(layoutPath: string, signal?: AbortSignal): Promise<Readable | undefined> {
      const { sent, url } = await request('GET', layoutPath, signal);
      if (judge('GET', url, sent.response) === 'absent') return undefined;
      return checkedBody(sent, url, signal);
    },

    async has(layoutPath: string, signal?: AbortSignal): Promise<boolean> {
      const {
        sent: { response },
        url,
      } = await request('HEAD', layoutPath, signal);
      const verdict = judge('HEAD', url, response);
      response.resume();
      return verdict === 'ok';
    },

    async put(layoutPath: string): Promise<void> {
      throw new BinhostError(
        'BUILDIT_BINHOST_READONLY',
        `cannot write ${layoutPath} to ${shown}: it is read-only`,
        {
          transient: false,
          exitCode: 2,
          hint: 'an HTTP(S) binhost is only read; publish through an upload location (upload-type: ssh and upload-path:, or a file:// folder)',
        },
      );
    },

    async close(): Promise<void> {
      const current = agent;
      agent = undefined;
      if (current) (await current.catch(() => undefined))?.destroy();
    },
  };
}

function parseBase(
  url: string,
  shown: string,
): { base: URL; query: string; authorization: string | undefined } {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new BinhostError('BUILDIT_BINHOST_URL', `${shown} is not a valid URL`, {
      transient: false,
      exitCode: 2,
    });
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new BinhostError(
      'BUILDIT_BINHOST_URL',
      `${shown}: an HTTP binhost needs an http:// or https:// URL`,
      {
        transient: false,
        exitCode: 2,
      },
    );
  }
  let authorization: string | undefined;
  if (base.username || base.password) {
    const user = decode(base.username);
    const password = decode(base.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    base.username = '';
    base.password = '';
  }
  // A query on the base URL (an access token) goes with every request.
  const query = base.search;
  base.search = '';
  base.hash = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return { base, query, authorization };
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

async function makeAgent(
  protocol: string,
  maxSockets: number,
  caFile: string | undefined,
): Promise<http.Agent> {
  if (protocol === 'http:') return new http.Agent({ keepAlive: true, maxSockets });
  if (caFile === undefined) return new https.Agent({ keepAlive: true, maxSockets });
  let pem: string;
  try {
    pem = await readFile(caFile, 'utf8');
  } catch (error) {
    throw new BinhostError(
      'BUILDIT_BINHOST_CA_FILE',
      `cannot read the CA file ${caFile}: ${(error as Error).message}`,
      {
        transient: false,
        exitCode: 2,
        hint: 'ca-file: names a PEM file of the certificates that signed the binhost server’s',
        cause: error,
      },
    );
  }
  // An explicit `ca` replaces Node's default store, NODE_EXTRA_CA_CERTS included, so both are put back.
  // One secure context for every connection: given `ca` instead, Node parses the
  // ~140 root certificates again per connection (measured: 16 parallel lookups
  // took 2.5x longer than one at a time).
  const secureContext = tls.createSecureContext({
    ca: [...tls.rootCertificates, ...(await extraCas()), pem],
  });
  return new https.Agent({ keepAlive: true, maxSockets, secureContext });
}

async function extraCas(): Promise<string[]> {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  // Node itself warned at startup when the file was unreadable.
  return [await readFile(file, 'utf8').catch(() => '')].filter((pem) => pem !== '');
}

interface Sent {
  response: IncomingMessage;
  request: http.ClientRequest;
  /** Whether the idle timeout ended it. */
  stalled: () => boolean;
}

function send(
  url: URL,
  method: string,
  options: {
    agent: http.Agent;
    timeoutMs: number;
    signal: AbortSignal | undefined;
    headers: Record<string, string>;
  },
): Promise<Sent> {
  const client = url.protocol === 'https:' ? https : http;
  let stalled = false;
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method,
      agent: options.agent,
      headers: { 'accept-encoding': 'identity', 'user-agent': 'buildit', ...options.headers },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // Idle, not total: a large blob may take long, a silent server may not.
    req.setTimeout(options.timeoutMs, () => {
      stalled = true;
      req.destroy(
        Object.assign(new Error(`no data for ${options.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }),
      );
    });
    req.once('response', (response) => resolve({ response, request: req, stalled: () => stalled }));
    req.once('error', (error) => {
      if (options.signal?.aborted) reject(options.signal.reason);
      else reject(networkError(method, url, error));
    });
    req.end();
  });
}

/** The body, failing (transient) when it stops before its Content-Length or the connection breaks. */
function checkedBody(sent: Sent, url: URL, signal: AbortSignal | undefined): Readable {
  const { response, request } = sent;
  const header = response.headers['content-length'];
  const expected = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
  let received = 0;
  const broken = (error?: unknown): Error => {
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error('aborted');
    if (sent.stalled()) return networkError('GET', url, error ?? new Error('stalled'), true);
    return new BinhostError(
      'BUILDIT_BINHOST_TRUNCATED',
      `GET ${redactUrl(url.href)}: ${received} bytes of ${expected ?? 'an unknown length'} arrived`,
      { transient: true, hint: 'the connection broke before the end of the file; try again', cause: error },
    );
  };
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      callback(expected !== undefined && received > expected ? broken() : null, chunk);
    },
    flush(callback) {
      callback(expected !== undefined && received !== expected ? broken() : null);
    },
  });
  response.on('error', (error) => out.destroy(broken(error)));
  response.on('close', () => {
    if (!response.complete) out.destroy(broken());
  });
  // A reader that gives up early leaves a half-read socket: it cannot be reused.
  out.on('close', () => {
    if (!response.complete) request.destroy();
  });
  response.pipe(out);
  return out;
}

function networkError(method: string, url: URL, error: unknown, stalled = false): BinhostError {
  const code = stalled ? 'ETIMEDOUT' : ((error as NodeJS.ErrnoException).code ?? '');
  const reason = stalled ? 'the server stopped sending' : redactUrlsIn((error as Error).message);
  const what = `${method} ${redactUrl(url.href)}: ${reason}`;
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
    const altname = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH';
    return new BinhostError('BUILDIT_BINHOST_TLS', `${what} (${code})`, {
      transient: false,
      cause: error,
      hint: altname
        ? `the server's certificate does not name ${url.hostname}; use the name it was issued for`
        : code.startsWith('ERR_SSL_')
          ? 'the TLS handshake failed: is this an https:// server (or an http:// one)?'
          : "the server's certificate is not trusted: add its CA with ca-file: on this binhost location, or NODE_EXTRA_CA_CERTS",
    });
  }
  const transient = NETWORK_CODES.has(code) || !code;
  return new BinhostError('BUILDIT_BINHOST_UNREACHABLE', code ? `${what} (${code})` : what, {
    transient,
    cause: error,
    hint: 'the binhost could not be reached; check the network, the host name and the port, or try again later',
  });
}
