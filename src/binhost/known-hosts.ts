/**
 * known_hosts, read the way OpenSSH reads it: plain and hashed (`|1|`) names,
 * `[host]:port`, patterns, `@revoked`. A binhost reached over SSH is trusted
 * only once its host key matches an entry here.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BinhostError } from './types.ts';

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

export function hostMatches(entry: KnownHost, name: string): boolean {
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

export function globToRegExp(glob: string): RegExp {
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
export function hostKeyAlgorithms(entries: readonly KnownHost[], name: string): string[] | undefined {
  const known = new Set(
    entries.filter((e) => !e.marker && hostMatches(e, name)).map((e) => keyTypeOf(e.key)),
  );
  if (known.size === 0) return undefined;
  const expand = (type: string): string[] =>
    type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
  const first = [...known].flatMap(expand).filter((a) => ALL_HOST_KEY_ALGORITHMS.includes(a));
  return [...first, ...ALL_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

export const ALL_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

export async function readKnownHosts(file: string): Promise<KnownHost[]> {
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
