/**
 * One HTTP exchange with a registry over node:http(s): a keep-alive agent
 * per client (with the system CAs, NODE_EXTRA_CA_CERTS and an optional CA
 * file), an idle timeout, and socket failures turned into RegistryErrors
 * that say whether a retry may help. Knows nothing of the distribution API.
 */
import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { RegistryError, shownUrl } from './errors.ts';
import { NETWORK_CODES, TLS_CODES } from '../util/net-errors.ts';

export interface Exchange {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** Sent as is; a stream is piped (never buffered). */
  body?: Buffer | Readable;
}

export interface TransportOptions {
  caFile?: string;
  /** A request that receives nothing for this long fails (transient); default 60 s. */
  timeoutMs?: number;
  maxSockets?: number;
}

export class Transport {
  readonly #options: TransportOptions;
  #https: Promise<https.Agent> | undefined;
  #http: http.Agent | undefined;

  constructor(options: TransportOptions = {}) {
    this.#options = options;
  }

  async send(exchange: Exchange): Promise<IncomingMessage> {
    const isHttps = exchange.url.protocol === 'https:';
    const agent = isHttps
      ? await (this.#https ??= makeHttpsAgent(this.#options))
      : (this.#http ??= new http.Agent({ keepAlive: true, maxSockets: this.#options.maxSockets ?? 16 }));
    const timeoutMs = this.#options.timeoutMs ?? 60_000;
    const { method, url } = exchange;
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(url, {
        method,
        agent,
        headers: { 'user-agent': 'buildit', 'accept-encoding': 'identity', ...exchange.headers },
      });
      let stalled = false;
      // Idle, not total: a large layer may take long, a silent server may not.
      req.setTimeout(timeoutMs, () => {
        stalled = true;
        req.destroy(Object.assign(new Error(`no answer for ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
      });
      req.once('response', resolve);
      req.on('error', (error) => reject(networkError(method, url, error, stalled)));
      const body = exchange.body;
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.once('error', (error) => req.destroy(error));
        // A body given up half way (after a 401) leaves a request that cannot finish.
        body.once('close', () => {
          if (!body.readableEnded) req.destroy();
        });
        body.pipe(req);
      }
    });
  }

  close(): void {
    this.#http?.destroy();
    void this.#https?.then((agent) => agent.destroy()).catch(() => {});
  }
}

/** The whole body, at most `limit` bytes (manifests, error documents, tokens). */
export async function readBody(response: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.destroy();
      throw new RegistryError(
        'BUILDIT_REGISTRY_REJECTED',
        `${what}: the answer is larger than ${limit} bytes`,
        {
          transient: false,
        },
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Whether the failure looks like TLS spoken to a plain-http server. */
export function isProtocolMismatch(error: unknown): boolean {
  const code = error instanceof RegistryError ? ((error.cause as NodeJS.ErrnoException)?.code ?? '') : '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL_');
}

export function networkError(method: string, url: URL, error: unknown, stalled = false): RegistryError {
  const code = stalled ? 'ETIMEDOUT' : ((error as NodeJS.ErrnoException).code ?? '');
  // OpenSSL's messages run over several lines of internals; the first says what happened.
  const reason = stalled ? 'the registry stopped answering' : ((error as Error).message.split('\n')[0] ?? '');
  const what = `${method} ${shownUrl(url)}: ${reason}`;
  if (
    TLS_CODES.has(code) ||
    code === 'EPROTO' ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_')
  ) {
    const altname = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH';
    const plain = code === 'EPROTO' || code.startsWith('ERR_SSL_');
    return new RegistryError('BUILDIT_REGISTRY_TLS', `${what} (${code})`, {
      transient: false,
      cause: error,
      hint: altname
        ? `the registry's certificate does not name ${url.hostname}; use the name it was issued for`
        : plain
          ? `the TLS handshake failed; if ${url.host} serves plain http, name it in --insecure-registry`
          : "the registry's certificate is not trusted: add its CA with NODE_EXTRA_CA_CERTS (or the registry's CA file)",
    });
  }
  return new RegistryError('BUILDIT_REGISTRY_UNREACHABLE', code ? `${what} (${code})` : what, {
    transient: NETWORK_CODES.has(code) || code === '',
    cause: error,
    hint: `check the network, the registry's host name and port (${url.host}), or try again later`,
  });
}

async function makeHttpsAgent(options: TransportOptions): Promise<https.Agent> {
  const maxSockets = options.maxSockets ?? 16;
  if (options.caFile === undefined) return new https.Agent({ keepAlive: true, maxSockets });
  let pem: string;
  try {
    pem = await readFile(options.caFile, 'utf8');
  } catch (error) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_TLS',
      `cannot read the CA file ${options.caFile}: ${(error as Error).message}`,
      {
        transient: false,
        exitCode: 2,
        cause: error,
        hint: 'name a PEM file of the CAs that signed the registry',
      },
    );
  }
  // An explicit CA list replaces Node's default store (NODE_EXTRA_CA_CERTS included), so both go back
  // in; one secure context for every connection rather than re-parsing the roots per connection.
  const extra = process.env.NODE_EXTRA_CA_CERTS
    ? await readFile(process.env.NODE_EXTRA_CA_CERTS, 'utf8').catch(() => '')
    : '';
  const secureContext = tls.createSecureContext({
    ca: [...tls.rootCertificates, ...(extra ? [extra] : []), pem],
  });
  return new https.Agent({ keepAlive: true, maxSockets, secureContext });
}
