/**
 * Real servers on loopback for tests (STYLE.md "Tests"): OpenSSH sshd, nginx with TLS, and a
 * fault-injecting HTTP proxy. Each gets temporary keys, a free port on 127.0.0.1 and its own temp
 * folder; stop() ends it and removes its files. Servers a test forgot to stop are killed when the
 * test process exits.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { testdir } from './testdir.ts';
import {
  Daemon,
  freePort,
  listensOn,
  POLL_MS,
  processAlive,
  run,
  running,
  signal,
  sleep,
} from './processes.ts';
import { requireTool } from './tools.ts';

export interface SshdServer {
  host: '127.0.0.1';
  port: number;
  /** The login user: the user running the tests ('root' here). */
  user: string;
  /** Private key (ed25519, no passphrase) the user logs in with. */
  identityFile: string;
  /** A known_hosts file holding this server's host key as "[127.0.0.1]:PORT ssh-ed25519 AAAA...". */
  knownHostsFile: string;
  /** "SHA256:..." of the host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** An absolute, empty folder the user may write (upload target for tests); removed by stop(). */
  root: string;
  /** The sshd listener process. */
  pid: number;
  /** SIGTERM, wait for exit (every connection ends too), remove temp files. Safe to call twice, and after kill(). */
  stop(): Promise<void>;
  /** SIGKILL the sshd and all its children, now (for "sshd killed during an upload" tests). */
  kill(): void;
}

export interface NginxServer {
  /** 'https://127.0.0.1:PORT/' */
  url: string;
  /** PEM of the temporary CA that signed the server certificate (SAN IP:127.0.0.1, DNS:localhost). */
  caFile: string;
  /** The folder nginx serves (as given, made absolute). */
  root: string;
  /** The nginx master process. */
  pid: number;
  /** SIGTERM, wait for exit, remove nginx's temp files (not `root`). Safe to call twice. */
  stop(): Promise<void>;
}

export interface FaultProxy {
  /** 'http://127.0.0.1:PORT/': plain HTTP in front of the upstream base URL. */
  url: string;
  /** The next n requests (any path) get this status with an empty body, then requests are forwarded again. */
  failNext(n: number, status: number): void;
  /** The next n requests get their connection destroyed after the response headers (a reset mid-body). */
  resetNext(n: number): void;
  /** Count of requests received (failed and reset ones included). */
  readonly requests: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

// ---------------------------------------------------------------------------------------------
// Processes

/** Parent of every process, from /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), Number(fields[1]));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Every descendant of `pid` (children first). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents()) children.set(parent, [...(children.get(parent) ?? []), child]);
  const out: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** SIGKILL a process and every descendant, freezing them first so none forks past us. */
function killTree(pid: number): void {
  const seen = new Set([pid]);
  signal(pid, 'SIGSTOP');
  for (let round = 0; round < 20; round++) {
    const fresh = descendants(pid).filter((p) => !seen.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      seen.add(p);
      signal(p, 'SIGSTOP');
    }
  }
  for (const p of seen) signal(p, 'SIGKILL');
}

async function waitGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pids.some(processAlive)) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * Poll `probe` until it succeeds; 'exited' when the daemon died first, 'timeout' after `ms`.
 */
async function waitReady(
  daemon: Daemon,
  probe: () => Promise<boolean>,
  ms: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!daemon.running) return 'exited';
    if (await probe()) return daemon.running ? 'ready' : 'exited';
    await sleep(POLL_MS);
  }
  return 'timeout';
}

// ---------------------------------------------------------------------------------------------
// Tools and ports

/** A system daemon's absolute path (sshd and nginx live in /usr/sbin, often not on a user's PATH). */
function systemTool(name: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (path.isAbsolute(found)) return found;
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin']) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  requireTool(name); // fails with the command that installs it
  return name;
}

const BIND_FAILED = /address already in use|cannot bind|bind\(\) to .* failed/i;

let pidNamespaces: boolean | undefined;

/**
 * Whether sshd can run as the init of its own PID namespace: then killing it takes every
 * connection process with it and the kernel reaps them all (no orphans, no zombies even when the
 * machine's init does not reap). Needs root and util-linux's unshare.
 */
function canUsePidNamespace(): boolean {
  if (pidNamespaces === undefined) {
    pidNamespaces =
      process.getuid?.() === 0 &&
      spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true'], { stdio: 'ignore', timeout: 30_000 })
        .status === 0;
  }
  return pidNamespaces;
}

// ---------------------------------------------------------------------------------------------
// sshd

/** Read the SSH identification line; true when it is one. */
function sshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\n')) {
        if (!text.startsWith('SSH-')) return finish(false);
        // Answer like a client would so sshd logs nothing worse than an early close.
        socket.end('SSH-2.0-buildit_probe\r\n', () => finish(true));
      }
    });
  });
}

function keygen(file: string, comment: string): Promise<string> {
  return run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

function sshdConfig(port: number, dir: string): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(dir, 'ssh_host_ed25519_key')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    // Tests may open many connections at once: never drop unauthenticated ones early.
    'MaxStartups 200',
    'MaxSessions 100',
    'Subsystem sftp internal-sftp',
    'LogLevel ERROR',
    '',
  ].join('\n');
}

/** An OpenSSH sshd on 127.0.0.1 with a fresh host key, accepting a fresh ed25519 user key. */
export async function startSshd(): Promise<SshdServer> {
  const sshd = systemTool('sshd');
  const dir = testdir();
  try {
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const identityFile = path.join(dir, 'id_ed25519');
    await Promise.all([keygen(hostKey, 'buildit-test-host'), keygen(identityFile, 'buildit-test-user')]);
    writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`));
    const [keyType = '', keyBase64 = ''] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    const hostKeyFingerprint = `SHA256:${createHash('sha256')
      .update(Buffer.from(keyBase64, 'base64'))
      .digest('base64')
      .replace(/=+$/, '')}`;
    const root = path.join(dir, 'root');
    mkdirSync(root);
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation
    const isolated = canUsePidNamespace();
    const config = path.join(dir, 'sshd_config');

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(config, sshdConfig(port, dir));
      const args = ['-D', '-e', '-f', config];
      const daemon = isolated
        ? new Daemon(
            'unshare',
            ['--pid', '--fork', '--kill-child', sshd, ...args],
            path.join(dir, 'sshd.log'),
          )
        : new Daemon(sshd, args, path.join(dir, 'sshd.log'));
      // In a PID namespace the sshd is unshare's only child; killing it ends the namespace.
      const sshdPid = (): number | undefined =>
        isolated ? descendants(daemon.pid).find((p) => p !== daemon.pid) : daemon.pid;
      const killNow = (): void => {
        if (!daemon.running) return;
        if (!isolated) return killTree(daemon.pid);
        const pid = sshdPid();
        if (pid !== undefined) signal(pid, 'SIGKILL');
        signal(daemon.pid, 'SIGKILL'); // --kill-child: unshare's death kills sshd too
      };
      running.add(killNow);

      // The banner alone could come from another test's sshd that took the port first.
      const outcome = await waitReady(
        daemon,
        async () => (await sshBanner(port)) && listensOn(sshdPid(), port),
        READY_TIMEOUT_MS,
      );
      const pid = outcome === 'ready' ? sshdPid() : undefined;
      if (pid === undefined) {
        killNow();
        await daemon.waitExit(STOP_TIMEOUT_MS);
        running.delete(killNow);
        const log = daemon.log();
        if (outcome === 'exited' && BIND_FAILED.test(log) && attempt < PORT_ATTEMPTS) continue;
        throw new Error(
          `sshd did not start on 127.0.0.1:${port} (${outcome === 'ready' ? 'no sshd process' : outcome} after ${
            READY_TIMEOUT_MS / 1000
          } s): ${sshd} ${args.join(' ')}\n${log}`,
        );
      }

      const knownHostsFile = path.join(dir, 'known_hosts');
      writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${keyType} ${keyBase64}\n`);

      let stopping: Promise<void> | undefined;
      const stop = async (): Promise<void> => {
        if (daemon.running) {
          if (isolated) {
            signal(pid, 'SIGTERM'); // the namespace ends with it: the kernel kills and reaps every connection
          } else {
            // Connections first, so the listener reaps them; then the listener.
            const connections = descendants(pid);
            for (const p of connections) signal(p, 'SIGTERM');
            await waitGone(connections, STOP_TIMEOUT_MS / 2);
            signal(pid, 'SIGTERM');
          }
          if (!(await daemon.waitExit(STOP_TIMEOUT_MS))) {
            killNow();
            await daemon.waitExit(STOP_TIMEOUT_MS);
          }
        }
        running.delete(killNow);
        rmSync(dir, { recursive: true, force: true });
      };

      return {
        host: '127.0.0.1',
        port,
        user: os.userInfo().username,
        identityFile,
        knownHostsFile,
        hostKeyFingerprint,
        root,
        pid,
        stop: () => (stopping ??= stop()),
        kill: killNow,
      };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// nginx

const CA_CONFIG = `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = buildit test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

const SERVER_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = 127.0.0.1
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** A temporary CA (1 day) and a server certificate for 127.0.0.1 and localhost signed by it. */
/** A temporary CA and a server certificate it signed, for 127.0.0.1 and localhost (RSA 2048, one day). */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const file = (name: string): string => path.join(dir, name);
  writeFileSync(file('ca.cnf'), CA_CONFIG);
  writeFileSync(file('server.cnf'), SERVER_CONFIG);
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  await Promise.all([
    run('openssl', [
      'req',
      '-x509',
      ...key,
      '-days',
      '1',
      '-config',
      file('ca.cnf'),
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]),
    run('openssl', [
      'req',
      '-new',
      ...key,
      '-config',
      file('server.cnf'),
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    ]),
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-set_serial',
    `0x${Date.now().toString(16)}${process.pid.toString(16)}`,
    '-days',
    '1',
    '-extfile',
    file('server.cnf'),
    '-extensions',
    'v3_server',
    '-out',
    file('server.pem'),
  ]);
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

/** A path for nginx.conf (where `root` expands variables, so `$` cannot be written). */
function quoted(value: string): string {
  if (/["\\$\n]/.test(value))
    throw new Error(`nginx cannot be configured with the path ${JSON.stringify(value)}`);
  return `"${value}"`;
}

function nginxConfig(port: number, prefix: string, root: string, tls: { cert: string; key: string }): string {
  const temp = (name: string): string => quoted(path.join(prefix, name));
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 256; }
http {
  types {
    text/html html;
    text/plain txt;
    application/json json;
  }
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  keepalive_timeout 5s;
  client_body_temp_path ${temp('client_body_temp')};
  proxy_temp_path ${temp('proxy_temp')};
  fastcgi_temp_path ${temp('fastcgi_temp')};
  uwsgi_temp_path ${temp('uwsgi_temp')};
  scgi_temp_path ${temp('scgi_temp')};
  server {
    listen 127.0.0.1:${port} ssl;
    server_name 127.0.0.1 localhost;
    ssl_certificate ${quoted(tls.cert)};
    ssl_certificate_key ${quoted(tls.key)};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${quoted(root)};
    autoindex off;
    location / {
      try_files $uri =404;
    }
  }
}
`;
}

/** Whether nginx answers HTTPS on `port` (any status). */
function httpsAnswers(port: number, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/', method: 'HEAD', ca, agent: false, timeout: 3000 },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** nginx serving `root` as static files over TLS on 127.0.0.1 (404 for missing files; GET and HEAD). */
export async function startNginx(root: string): Promise<NginxServer> {
  const nginx = systemTool('nginx');
  const served = path.resolve(root);
  const prefix = testdir();
  try {
    const tls = await makeCertificates(prefix);
    const ca = readFileSync(tls.ca);
    for (const name of [
      'client_body_temp',
      'proxy_temp',
      'fastcgi_temp',
      'uwsgi_temp',
      'scgi_temp',
      'logs',
    ]) {
      mkdirSync(path.join(prefix, name), { recursive: true });
    }
    const config = path.join(prefix, 'nginx.conf');

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeFileSync(config, nginxConfig(port, prefix, served, tls));
      rmSync(path.join(prefix, 'error.log'), { force: true });
      const args = [
        '-p',
        `${prefix}/`,
        '-c',
        config,
        '-e',
        path.join(prefix, 'error.log'),
        '-g',
        'daemon off;',
      ];
      const daemon = new Daemon(nginx, args, path.join(prefix, 'nginx.out'));
      const pid = daemon.pid;
      // nginx keeps its workers in its process group (it was started detached: the group is its pid).
      const killNow = (): void => {
        if (daemon.running) signal(-pid, 'SIGKILL');
      };
      running.add(killNow);
      const log = (): string => {
        let errors = '';
        try {
          errors = readFileSync(path.join(prefix, 'error.log'), 'utf8').slice(-8000);
        } catch {
          // none yet
        }
        return `${daemon.log()}${errors}`;
      };

      // Only this server's certificate verifies against this CA: no other test's nginx passes for it.
      const outcome = await waitReady(daemon, () => httpsAnswers(port, ca), READY_TIMEOUT_MS * 2);
      if (outcome !== 'ready') {
        killNow();
        await daemon.waitExit(STOP_TIMEOUT_MS);
        running.delete(killNow);
        if (outcome === 'exited' && BIND_FAILED.test(log()) && attempt < PORT_ATTEMPTS) continue;
        throw new Error(
          `nginx did not start on 127.0.0.1:${port} (${outcome}): ${nginx} ${args.join(' ')}\n${log()}`,
        );
      }

      let stopping: Promise<void> | undefined;
      const stop = async (): Promise<void> => {
        if (daemon.running) {
          signal(pid, 'SIGTERM'); // fast shutdown: the master ends (and reaps) its workers, then exits
          if (!(await daemon.waitExit(STOP_TIMEOUT_MS))) {
            killNow();
            await daemon.waitExit(STOP_TIMEOUT_MS);
          }
        }
        signal(-pid, 'SIGKILL'); // a worker that outlived its master
        running.delete(killNow);
        rmSync(prefix, { recursive: true, force: true });
      };

      return {
        url: `https://127.0.0.1:${port}/`,
        caFile: tls.ca,
        root: served,
        pid,
        stop: () => (stopping ??= stop()),
      };
    }
  } catch (error) {
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Fault proxy

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Send the upstream response's headers and less than all of its body (half of the first chunk at
 * most), then destroy the connection, so the client sees a response cut short.
 */
function cutShort(req: http.IncomingMessage, upstream: http.IncomingMessage, socket: Duplex): void {
  const headers = endToEnd(upstream.headers);
  const length = Number(headers['content-length'] ?? Number.NaN);
  const bodyless = req.method === 'HEAD' || upstream.statusCode === 204 || upstream.statusCode === 304;
  if (!bodyless && !(length > 0)) {
    // No length to fall short of: promise chunks and never send the last one.
    delete headers['content-length'];
    headers['transfer-encoding'] = 'chunked';
  }
  let head = `HTTP/1.1 ${upstream.statusCode ?? 502} ${upstream.statusMessage ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${String(v)}\r\n`;
  }
  head += 'connection: close\r\n\r\n';
  let sent = false;
  const send = (body: Buffer): void => {
    if (sent) return;
    sent = true;
    upstream.destroy();
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]), () => socket.destroy());
  };
  if (bodyless || !(length > 1)) return send(Buffer.alloc(0));
  upstream.once('data', (chunk: Buffer) =>
    send(chunk.subarray(0, Math.min(chunk.length, Math.floor(length / 2)))),
  );
  upstream.once('end', () => send(Buffer.alloc(0)));
  upstream.once('error', () => send(Buffer.alloc(0)));
}

/**
 * A plain-HTTP proxy on 127.0.0.1 in front of `upstream` (an https:// or http:// base URL; request
 * paths are appended to its path), trusting `caFile` for https. Requests are forwarded with their
 * method, path, headers and streaming body, answers streamed back, except the ones failNext and
 * resetNext claim (failures are served first).
 */
export async function startFaultProxy(upstream: string, caFile?: string): Promise<FaultProxy> {
  const base = new URL(upstream);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') {
    throw new Error(`fault proxy upstream must be http:// or https://, not ${upstream}`);
  }
  const client = base.protocol === 'https:' ? https : http;
  const ca = caFile === undefined ? undefined : readFileSync(caFile);
  const basePath = base.pathname.replace(/\/+$/, '');
  const failures: number[] = [];
  let resets = 0;
  let requests = 0;
  const inFlight = new Set<http.ClientRequest>();

  const server = http.createServer((req, res) => {
    requests++;
    const status = failures.shift();
    if (status !== undefined) {
      req.resume();
      res.writeHead(status, { 'content-length': '0' });
      res.end();
      return;
    }
    const reset = resets > 0;
    if (reset) resets--;

    const up = client.request({
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: base.port === '' ? undefined : Number(base.port),
      path: basePath + (req.url ?? '/'),
      method: req.method,
      headers: { ...endToEnd(req.headers), host: base.host },
      agent: false,
      ...(ca === undefined ? {} : { ca }),
    });
    inFlight.add(up);
    up.on('close', () => inFlight.delete(up));
    up.on('response', (upRes) => {
      if (reset) return cutShort(req, upRes, req.socket);
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEnd(upRes.headers));
      upRes.pipe(res);
      upRes.on('aborted', () => res.destroy());
      upRes.on('error', () => res.destroy());
    });
    up.on('error', (error) => {
      if (res.headersSent || reset) {
        res.destroy();
        return;
      }
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream ${upstream} failed: ${error.message}\n`);
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      for (const up of inFlight) up.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    url: `http://127.0.0.1:${port}/`,
    failNext(n: number, status: number): void {
      for (let i = 0; i < n; i++) failures.push(status);
    },
    resetNext(n: number): void {
      resets += n;
    },
    get requests(): number {
      return requests;
    },
    stop: () => (stopping ??= stop()),
  };
}
