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
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { addAbortSignal } from 'node:stream';
import { BodyFailed, layoutSegments, pipeBody } from './file.ts';
import { NETWORK_CODES } from '../util/net-errors.ts';
import { BinhostError, type BinhostBackend, type Location } from './types.ts';
import { knownHostsName, checkHostKey, hostKeyAlgorithms, readKnownHosts } from './known-hosts.ts';
import {
  type SftpStats,
  type SftpStatusError,
  ssh,
  ask,
  SFTP_NO_SUCH_FILE,
  SFTP_PERMISSION_DENIED,
  SFTP_NO_CONNECTION,
  SFTP_CONNECTION_LOST,
  SftpUpload,
  SftpDownload,
  type Session,
} from './sftp-wire.ts';

/** Where (a Location of kind 'sftp'), plus the environment and patience. */
export type SftpBinhostOptions = Omit<Extract<Location, { kind: 'sftp' }>, 'kind'> & {
  /** HOME, USER and SSH_AUTH_SOCK are read from here; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Connecting, and silence on an open connection, fail (transient) after this long; default 30 s. */
  timeoutMs?: number;
};

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
