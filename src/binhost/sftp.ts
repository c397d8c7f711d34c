/**
 * A writable binhost over SFTP (OpenSSH's sftp-server, or any SFTPv3 server).
 *
 * Threats: the server is whoever answers on host:port until its host key is
 * matched against known_hosts, so an unknown or changed key stops the
 * connection before authentication (no agent signature, no key offered to a
 * stranger). Files are uploaded under a temporary name in their folder and
 * renamed over the final one (posix-rename@openssh.com where the server has
 * it: no moment without a file), so a reader or a killed upload never leaves
 * half an artifact at a layout path.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { addAbortSignal, Readable, Writable } from 'node:stream';
import { BodyFailed, layoutSegments, pipeBody } from './file.ts';
import { BinhostError, type BinhostBackend } from './types.ts';

export interface SftpBinhostOptions {
  host: string;
  port: number;
  /** Default: $USER, else root. */
  user?: string;
  /** The binhost folder: relative to the login folder unless `absolute`. */
  path: string;
  absolute: boolean;
  /** Private key file; default ~/.ssh/id_ed25519, then ~/.ssh/id_rsa (besides ssh-agent). */
  identityFile?: string;
  /** Default ~/.ssh/known_hosts. */
  knownHosts?: string;
  /** HOME, USER and SSH_AUTH_SOCK are read from here; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Connecting, and silence on an open connection, fail (transient) after this long; default 30 s. */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------
// known_hosts

export interface KnownHost {
  marker: 'revoked' | 'cert-authority' | undefined;
  /** Plain patterns (`host`, `[host]:port`, `*.example.org`, `!bad`) or one hashed `|1|salt|hash`. */
  hosts: { hashed: { salt: Buffer; hash: Buffer } } | { patterns: string[] };
  keyType: string;
  key: Buffer;
}

/** The entries of a known_hosts file; lines that are no entry are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHost['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name !== '@revoked' && name !== '@cert-authority') continue;
      marker = name === '@revoked' ? 'revoked' : 'cert-authority';
    }
    const [hostField, keyType, base64] = fields;
    if (!hostField || !keyType || !base64) continue;
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0) continue;
    let hosts: KnownHost['hosts'];
    if (hostField.startsWith('|1|')) {
      const [, , salt, hash] = hostField.split('|');
      if (!salt || !hash) continue;
      hosts = { hashed: { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') } };
    } else {
      hosts = { patterns: hostField.split(',') };
    }
    entries.push({ marker, hosts, keyType, key });
  }
  return entries;
}

/** The name ssh looks up: `host` on port 22, `[host]:port` elsewhere. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

function hostMatches(entry: KnownHost, name: string): boolean {
  if ('hashed' in entry.hosts) {
    const { salt, hash } = entry.hosts.hashed;
    return createHmac('sha1', salt).update(name).digest().equals(hash);
  }
  let matched = false;
  for (const pattern of entry.hosts.patterns) {
    const negated = pattern.startsWith('!');
    if (!globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** `SHA256:…` exactly as ssh-keygen -l prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Whether `keyBlob` may be trusted for host:port: undefined when known_hosts
 * has it, else the BinhostError to raise (unknown, changed or revoked).
 */
export function checkHostKey(
  entries: readonly KnownHost[],
  host: string,
  port: number,
  keyBlob: Buffer,
  knownHostsFile: string,
): BinhostError | undefined {
  const name = knownHostsName(host, port);
  const type = keyTypeOf(keyBlob);
  const offered = fingerprint(keyBlob);
  const where = `${host}:${port}`;
  if (entries.some((e) => e.marker === 'revoked' && e.key.equals(keyBlob))) {
    return new BinhostError(
      'BUILDIT_BINHOST_HOSTKEY_REVOKED',
      `the ${type} host key of ${where} (${offered}) is marked @revoked in ${knownHostsFile}`,
      { transient: false, exitCode: 2, hint: 'the server must be given a new host key' },
    );
  }
  const forHost = entries.filter((e) => e.marker === undefined && hostMatches(e, name));
  if (forHost.some((e) => e.key.equals(keyBlob))) return undefined;
  const sameType = forHost.filter((e) => keyTypeOf(e.key) === type);
  if (sameType.length > 0) {
    const known = [...new Set(sameType.map((e) => fingerprint(e.key)))].join(', ');
    return new BinhostError(
      'BUILDIT_BINHOST_HOSTKEY_CHANGED',
      `the ${type} host key of ${where} has changed: it offered ${offered}, ${knownHostsFile} has ${known}`,
      {
        transient: false,
        exitCode: 2,
        hint:
          'someone may be intercepting the connection, or the server was reinstalled. Ask its admin for the ' +
          `new fingerprint; if ${offered} is right, remove the old entry (ssh-keygen -R '${name}' -f ${knownHostsFile}) and add the new one`,
      },
    );
  }
  const short = type.replace(/^ssh-/, '').replace(/^ecdsa-sha2-.*/, 'ecdsa');
  const others =
    forHost.length > 0
      ? ` (it knows ${[...new Set(forHost.map((e) => keyTypeOf(e.key)))].join(', ')} keys only)`
      : '';
  return new BinhostError(
    'BUILDIT_BINHOST_HOSTKEY_UNKNOWN',
    `the host key of ${where} is not in ${knownHostsFile}${others}: ${type} ${offered}`,
    {
      transient: false,
      exitCode: 2,
      hint:
        `check with the server's admin that its ${type} fingerprint is ${offered}, then add it: ` +
        `ssh-keyscan -p ${port} -t ${short} ${host} >> ${knownHostsFile}`,
    },
  );
}

/** Host key algorithms in the order to ask for them: the types known_hosts has for this host first, as ssh does. */
function hostKeyAlgorithms(entries: readonly KnownHost[], name: string): string[] | undefined {
  const known = new Set(
    entries.filter((e) => !e.marker && hostMatches(e, name)).map((e) => keyTypeOf(e.key)),
  );
  if (known.size === 0) return undefined;
  const expand = (type: string): string[] =>
    type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
  const first = [...known].flatMap(expand).filter((a) => ALL_HOST_KEY_ALGORITHMS.includes(a));
  return [...first, ...ALL_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

const ALL_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

// ---------------------------------------------------------------------------
// ssh2 and ssh2-sftp-client have no type declarations; these are the parts used.

interface SftpStats {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
}
type Callback<T> = (error: SftpStatusError | undefined | null, value: T) => void;
interface SftpStatusError extends Error {
  code?: number | string;
  level?: string;
}
interface SftpWrapper extends EventEmitter {
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
interface SftpClient {
  sftp: SftpWrapper | undefined;
  client: EventEmitter;
  on(event: string, listener: (...args: unknown[]) => void): void;
  connect(config: Record<string, unknown>): Promise<unknown>;
  end(): Promise<unknown>;
}
type SftpClientClass = new (name: string, callbacks: Record<string, () => void>) => SftpClient;

const require = createRequire(import.meta.url);
let modules: { SftpClient: SftpClientClass; parseKey: (data: Buffer) => unknown } | undefined;
function ssh(): NonNullable<typeof modules> {
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
function ask<T>(session: { closed: boolean }, fn: (cb: Callback<T>) => void): Promise<T> {
  if (session.closed) return Promise.reject(connectionLost());
  return new Promise((resolve, reject) => {
    fn((error, value) => (error ? reject(error) : resolve(value)));
  });
}

function connectionLost(): SftpStatusError {
  return Object.assign(new Error('Connection lost'), { code: SFTP_CONNECTION_LOST });
}

// ---------------------------------------------------------------------------
// the backend

const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;
const SFTP_NO_CONNECTION = 6;
const SFTP_CONNECTION_LOST = 7;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
]);

interface Session {
  client: SftpClient;
  sftp: SftpWrapper;
  /** Absolute folder of the binhost on the server. */
  root: string;
  closed: boolean;
}

export function openSftpBinhost(options: SftpBinhostOptions): BinhostBackend {
  const env = options.env ?? process.env;
  const home = env.HOME ?? '';
  const user = options.user ?? (env.USER || 'root');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const knownHostsFile = options.knownHosts ?? path.join(home, '.ssh', 'known_hosts');
  const where = `${user}@${options.host}:${options.port}`;
  const describe = `sftp://${where}${options.absolute ? '' : '/~'}/${options.path.replace(/^\/+/, '')}`;
  let current: Promise<Session> | undefined;

  async function connect(): Promise<Session> {
    const entries = await readKnownHosts(knownHostsFile);
    const auth = await authMethods(options, env, home, user, where);
    const { SftpClient } = ssh();
    // ssh2-sftp-client prints unexpected events by default: this module never prints.
    const client = new SftpClient('buildit', { error: () => {}, end: () => {}, close: () => {} });
    const errors: SftpStatusError[] = [];
    client.on('error', (error) => errors.push(error as SftpStatusError));
    let hostKeyFailure: BinhostError | undefined;
    const algorithms = hostKeyAlgorithms(entries, knownHostsName(options.host, options.port));
    try {
      await client.connect({
        host: options.host,
        port: options.port,
        username: user,
        authHandler: auth,
        hostVerifier: (key: Buffer) => {
          hostKeyFailure = checkHostKey(entries, options.host, options.port, key, knownHostsFile);
          return hostKeyFailure === undefined;
        },
        readyTimeout: timeoutMs,
        // A peer that vanished without a FIN is noticed within about timeoutMs.
        keepaliveInterval: Math.max(1000, Math.floor(timeoutMs / 3)),
        keepaliveCountMax: 3,
        ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
      });
    } catch (error) {
      await bestEffort(client.end());
      if (hostKeyFailure) throw hostKeyFailure;
      throw connectError(errors.find((e) => e.level === 'client-authentication') ?? errors.at(-1) ?? error);
    }
    const sftp = client.sftp;
    if (!sftp) throw connectError(new Error('the SFTP subsystem did not start'));
    const session: Session = { client, sftp, root: '', closed: false };
    const lost = (): void => {
      session.closed = true;
    };
    client.client.on('close', lost);
    client.client.on('end', lost);
    client.client.on('error', lost);
    sftp.on('close', lost);
    sftp.on('end', lost);
    try {
      session.root = options.absolute
        ? path.posix.resolve('/', options.path)
        : path.posix.resolve(await ask<string>(session, (cb) => sftp.realpath('.', cb)), options.path);
    } catch (error) {
      await bestEffort(client.end());
      throw opError(session, 'cannot find the login folder', error);
    }
    return session;
  }

  function connectError(error: unknown): BinhostError {
    const raw = error as SftpStatusError;
    const message = raw.message ?? String(error);
    if (raw.level === 'client-authentication') {
      return new BinhostError('BUILDIT_BINHOST_DENIED', `${where}: ${message}`, {
        transient: false,
        cause: error,
        hint: `the server accepted none of the keys offered (ssh-agent, ${options.identityFile ?? '~/.ssh/id_ed25519, ~/.ssh/id_rsa'}); add the public key to ~${user}/.ssh/authorized_keys there, or set identity-file:`,
      });
    }
    const network =
      raw.level === 'client-socket' ||
      raw.level === 'client-dns' ||
      raw.level === 'client-timeout' ||
      NETWORK_CODES.has(String(raw.code)) ||
      /timed out|connection lost|connection refused|reset/i.test(message);
    if (network) {
      return new BinhostError('BUILDIT_BINHOST_UNREACHABLE', `cannot connect to ${where}: ${message}`, {
        transient: true,
        cause: error,
        hint: 'check the host name, the port and the network, or try again later',
      });
    }
    return new BinhostError('BUILDIT_BINHOST_SSH', `cannot open SFTP to ${where}: ${message}`, {
      transient: false,
      cause: error,
      hint: 'the SSH server refused the session; is its SFTP subsystem enabled?',
    });
  }

  /** A failure of one operation on an open session, as a BinhostError. */
  function opError(session: Session, what: string, error: unknown): BinhostError {
    if (error instanceof BinhostError) return error;
    const raw = error as SftpStatusError;
    const message = raw.message ?? String(error);
    if (
      session.closed ||
      raw.code === SFTP_NO_CONNECTION ||
      raw.code === SFTP_CONNECTION_LOST ||
      NETWORK_CODES.has(String(raw.code)) ||
      /no response from server|not connected|connection lost|channel/i.test(message)
    ) {
      drop(session);
      return new BinhostError(
        'BUILDIT_BINHOST_UNREACHABLE',
        `${describe}: ${what}: the connection broke (${message})`,
        {
          transient: true,
          cause: error,
          hint: 'the connection to the SSH server was lost; try again',
        },
      );
    }
    if (raw.code === SFTP_PERMISSION_DENIED) {
      return new BinhostError('BUILDIT_BINHOST_DENIED', `${describe}: ${what}: permission denied`, {
        transient: false,
        cause: error,
        hint: `${user} may not write there; check the folder's owner and mode on the server`,
      });
    }
    return new BinhostError('BUILDIT_BINHOST_SFTP', `${describe}: ${what}: ${message}`, {
      transient: false,
      cause: error,
    });
  }

  function drop(session: Session): void {
    session.closed = true;
    void bestEffort(session.client.end());
  }

  async function session(): Promise<Session> {
    const pending = current;
    if (pending) {
      const open = await pending.catch(() => undefined);
      if (open && !open.closed) return open;
      if (current === pending) current = undefined;
    }
    // One connection shared by concurrent callers; a failed attempt is not cached.
    current ??= connect();
    const attempt = current;
    try {
      return await attempt;
    } catch (error) {
      if (current === attempt) current = undefined;
      throw error;
    }
  }

  async function run<T>(what: string, work: (s: Session) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const s = await session();
    try {
      return await work(s);
    } catch (error) {
      if (error instanceof BodyFailed) throw error.cause;
      if (signal?.aborted) throw signal.reason;
      throw opError(s, what, error);
    }
  }

  const remote = (s: Session, layoutPath: string): string =>
    path.posix.join(s.root, ...layoutSegments(layoutPath));

  async function mkdirs(s: Session, dir: string): Promise<void> {
    const stats = await ask<SftpStats>(s, (cb) => s.sftp.stat(dir, cb)).catch((error: SftpStatusError) => {
      if (error.code === SFTP_NO_SUCH_FILE) return undefined;
      throw error;
    });
    if (stats?.isDirectory()) return;
    if (stats) throw new Error(`${dir} exists and is not a folder`);
    const parent = path.posix.dirname(dir);
    if (parent !== dir) await mkdirs(s, parent);
    try {
      await ask<void>(s, (cb) => s.sftp.mkdir(dir, cb));
    } catch (error) {
      // Another writer may have made it meanwhile.
      const again = await ask<SftpStats>(s, (cb) => s.sftp.stat(dir, cb)).catch(() => undefined);
      if (!again?.isDirectory()) throw error;
    }
  }

  async function replace(s: Session, temp: string, file: string): Promise<void> {
    if (s.sftp._extensions['posix-rename@openssh.com'] === '1') {
      await ask<void>(s, (cb) => s.sftp.ext_openssh_rename(temp, file, cb));
      return;
    }
    // SFTPv3 rename refuses an existing target: a short window without the file, never a partial one.
    try {
      await ask<void>(s, (cb) => s.sftp.rename(temp, file, cb));
    } catch {
      await ask<void>(s, (cb) => s.sftp.unlink(file, cb)).catch(() => undefined);
      await ask<void>(s, (cb) => s.sftp.rename(temp, file, cb));
    }
  }

  return {
    describe,
    writable: true,

    async get(layoutPath: string, signal?: AbortSignal): Promise<Readable | undefined> {
      layoutSegments(layoutPath);
      return run(
        `cannot read ${layoutPath}`,
        async (s) => {
          const file = remote(s, layoutPath);
          let handle: Buffer;
          try {
            handle = await ask<Buffer>(s, (cb) => s.sftp.open(file, 'r', cb));
          } catch (error) {
            if ((error as SftpStatusError).code === SFTP_NO_SUCH_FILE) return undefined;
            throw error;
          }
          let size: number;
          try {
            const stats = await ask<SftpStats>(s, (cb) => s.sftp.fstat(handle, cb));
            if (!stats.isFile()) {
              await ask<void>(s, (cb) => s.sftp.close(handle, cb));
              return undefined;
            }
            size = stats.size;
          } catch (error) {
            await ask<void>(s, (cb) => s.sftp.close(handle, cb)).catch(() => undefined);
            throw error;
          }
          const what = `cannot read ${layoutPath}`;
          const download = new SftpDownload(s, handle, size, (error) =>
            error instanceof BinhostError ? error : opError(s, what, error),
          );
          return signal ? addAbortSignal(signal, download) : download;
        },
        signal,
      );
    },

    async has(layoutPath: string, signal?: AbortSignal): Promise<boolean> {
      layoutSegments(layoutPath);
      return run(
        `cannot stat ${layoutPath}`,
        async (s) => {
          try {
            return (await ask<SftpStats>(s, (cb) => s.sftp.stat(remote(s, layoutPath), cb))).isFile();
          } catch (error) {
            if ((error as SftpStatusError).code === SFTP_NO_SUCH_FILE) return false;
            throw error;
          }
        },
        signal,
      );
    },

    async put(layoutPath: string, body: () => Readable, signal?: AbortSignal): Promise<void> {
      const segments = layoutSegments(layoutPath);
      const name = segments.at(-1) ?? '';
      return run(
        `cannot write ${layoutPath}`,
        async (s) => {
          const file = remote(s, layoutPath);
          const dir = path.posix.dirname(file);
          await mkdirs(s, dir);
          const temp = path.posix.join(dir, `.tmp-${name}-${randomBytes(6).toString('hex')}`);
          const handle = await ask<Buffer>(s, (cb) => s.sftp.open(temp, 'wx', cb));
          let open = true;
          try {
            await pipeBody(body(), new SftpUpload(s, handle), signal);
            if (s.sftp._extensions['fsync@openssh.com'] === '1') {
              await ask<void>(s, (cb) => s.sftp.ext_openssh_fsync(handle, cb));
            }
            open = false;
            await ask<void>(s, (cb) => s.sftp.close(handle, cb));
            await replace(s, temp, file);
          } catch (error) {
            // Best effort: after a broken connection the temp file stays (its name says what it is).
            if (!s.closed) {
              if (open) await bestEffort(ask<void>(s, (cb) => s.sftp.close(handle, cb)));
              await bestEffort(ask<void>(s, (cb) => s.sftp.unlink(temp, cb)));
            }
            throw error;
          }
        },
        signal,
      );
    },

    async close(): Promise<void> {
      const pending = current;
      current = undefined;
      const s = await pending?.catch(() => undefined);
      if (s && !s.closed) {
        s.closed = true;
        await bestEffort(s.client.end());
      }
    },
  };
}

/** Cleanup that may fail, or never hear back from a dying connection. */
function bestEffort(work: Promise<unknown>, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function readKnownHosts(file: string): Promise<KnownHost[]> {
  try {
    return parseKnownHosts(await readFile(file, 'utf8'));
  } catch (error) {
    // No file: every host is unknown, and the error then says how to add one.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BinhostError('BUILDIT_BINHOST_CONFIG', `cannot read ${file}: ${(error as Error).message}`, {
      transient: false,
      exitCode: 2,
      cause: error,
    });
  }
}

/** ssh2 auth attempts: the agent first, then each usable key file. */
async function authMethods(
  options: SftpBinhostOptions,
  env: NodeJS.ProcessEnv,
  home: string,
  user: string,
  where: string,
): Promise<Record<string, unknown>[]> {
  const methods: Record<string, unknown>[] = [];
  if (env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: user, agent: env.SSH_AUTH_SOCK });
  const files = options.identityFile
    ? [options.identityFile]
    : [path.join(home, '.ssh', 'id_ed25519'), path.join(home, '.ssh', 'id_rsa')];
  const skipped: string[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (error) {
      if (!options.identityFile && (error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new BinhostError(
        'BUILDIT_BINHOST_CONFIG',
        `cannot read the SSH key ${file}: ${(error as Error).message}`,
        {
          transient: false,
          exitCode: 2,
          cause: error,
        },
      );
    }
    const parsed = ssh().parseKey(data);
    if (parsed instanceof Error) {
      // buildit never prompts: a key with a passphrase is used through ssh-agent.
      const locked = /passphrase|encrypted/i.test(parsed.message);
      if (options.identityFile && !(locked && env.SSH_AUTH_SOCK)) {
        throw new BinhostError(
          'BUILDIT_BINHOST_CONFIG',
          `cannot use the SSH key ${file}: ${parsed.message}`,
          {
            transient: false,
            exitCode: 2,
            hint: locked
              ? `load it into ssh-agent (ssh-add ${file}); buildit does not ask for passphrases`
              : 'identity-file: names a private key (OpenSSH or PEM format), not a public one',
          },
        );
      }
      skipped.push(file);
      continue;
    }
    methods.push({ type: 'publickey', username: user, key: data });
  }
  if (methods.length === 0) {
    throw new BinhostError('BUILDIT_BINHOST_DENIED', `${where}: no SSH key to offer`, {
      transient: false,
      hint:
        skipped.length > 0
          ? `${skipped.join(', ')} need a passphrase: load them into ssh-agent (ssh-add)`
          : 'start ssh-agent with a key (SSH_AUTH_SOCK), create ~/.ssh/id_ed25519, or set identity-file: on the location',
    });
  }
  return methods;
}

// ---------------------------------------------------------------------------
// Streams with many requests in flight. ssh2's own streams wait for each
// reply before sending the next request: one round trip per 32–64 KiB, which
// over a 50 ms link caps a transfer near 1 MB/s. OpenSSH's sftp keeps 64
// requests in flight; so do these, with a bounded window.

const PIECE = 64 * 1024;
const WINDOW = 16;

/** Writes at increasing offsets of an open handle, up to WINDOW requests in flight. */
class SftpUpload extends Writable {
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
class SftpDownload extends Readable {
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
