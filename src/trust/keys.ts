/**
 * Signing keys in Nix's text format (SPEC §5): `NAME:<base64 of the 64-byte
 * Ed25519 secret key>` (seed then public key, as libsodium and Nix store it)
 * and `NAME:<base64 of the 32-byte public key>`. Signatures are Ed25519 over
 * the canonical JSON of a record without its `signatures`.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { BuilditError, type SourceLocation } from '../errors.ts';
import { canonicalJson } from '../identity/canonical.ts';

/** DER prefixes that turn a raw 32-byte Ed25519 seed / public key into PKCS#8 / SPKI. */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SecretKey {
  name: string;
  key: KeyObject;
  /** The matching public key line. */
  publicLine: string;
}

export interface PublicKey {
  name: string;
  key: KeyObject;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function isValidKeyName(name: string): boolean {
  return NAME.test(name);
}

/** A fresh key pair as the two text lines: `.sec` and `.pub` contents (without newline). */
export function generateKeyLines(name: string): { secret: string; public: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return {
    secret: `${name}:${Buffer.concat([seed, pub]).toString('base64')}`,
    public: `${name}:${pub.toString('base64')}`,
  };
}

function split(
  line: string,
  bytes: number,
  what: string,
  where: SourceLocation,
): { name: string; raw: Buffer } {
  const text = line.trim();
  const colon = text.indexOf(':');
  const name = text.slice(0, colon);
  const raw = Buffer.from(text.slice(colon + 1), 'base64');
  if (
    colon <= 0 ||
    !NAME.test(name) ||
    raw.length !== bytes ||
    raw.toString('base64') !== text.slice(colon + 1)
  ) {
    throw new BuilditError('BUILDIT_KEY_INVALID', `not a ${what}: expected NAME:<base64 of ${bytes} bytes>`, {
      location: where,
      hint: 'keys come from `buildit keygen NAME` (NAME.sec is secret, NAME.pub is shared)',
    });
  }
  return { name, raw };
}

export function parseSecretKey(line: string, where: SourceLocation): SecretKey {
  const { name, raw } = split(line, 64, 'secret key', where);
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, raw.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  });
  const derived = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  if (!derived.equals(raw.subarray(32))) {
    throw new BuilditError('BUILDIT_KEY_INVALID', 'secret key: its public half does not match its seed', {
      location: where,
      hint: 'the file is damaged; generate a new key pair with `buildit keygen`',
    });
  }
  return { name, key, publicLine: `${name}:${derived.toString('base64')}` };
}

export function parsePublicKey(line: string, where: SourceLocation): PublicKey {
  const { name, raw } = split(line, 32, 'public key', where);
  return {
    name,
    key: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
  };
}

export interface Signature {
  keyId: string;
  sig: string;
}

/** What is signed: the canonical JSON of the record without `signatures`. */
function signedBytes(record: Record<string, unknown>): Buffer {
  const { signatures: _signatures, ...rest } = record;
  return Buffer.from(canonicalJson(rest));
}

export function signRecord<T extends Record<string, unknown>>(
  record: T,
  secret: SecretKey,
): T & { signatures: Signature[] } {
  const sig = sign(null, signedBytes(record), secret.key).toString('base64');
  const others = ((record['signatures'] as Signature[] | undefined) ?? []).filter(
    (s) => s.keyId !== secret.name,
  );
  return { ...record, signatures: [...others, { keyId: secret.name, sig }] };
}

/** The name of a trusted key with a valid signature on the record, or undefined. */
export function trustedSigner(
  record: Record<string, unknown>,
  trusted: readonly PublicKey[],
): string | undefined {
  const signatures = (record['signatures'] as Signature[] | undefined) ?? [];
  const bytes = signedBytes(record);
  for (const signature of signatures) {
    for (const key of trusted) {
      if (key.name !== signature.keyId) continue;
      try {
        if (verify(null, bytes, key.key, Buffer.from(signature.sig, 'base64'))) return key.name;
      } catch {
        // a malformed signature is no signature
      }
    }
  }
  return undefined;
}
