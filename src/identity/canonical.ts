/** RFC 8785 (JCS) canonical JSON and the digests buildit takes over it. */
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// The package is CommonJS (module.exports = fn) but its typings declare an ES
// default export; under NodeNext the default import is the function itself.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  // JSON.stringify's round trip drops what JSON cannot hold (functions, undefined
  // members) exactly as JSON would, instead of emitting `undefined` into the text.
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`${v} has no JSON form`);
    return v;
  });
  if (json === undefined) throw new TypeError('value cannot be serialized as JSON');
  const text = canonicalize(JSON.parse(json));
  if (text === undefined) throw new TypeError('value cannot be serialized as JSON');
  return text;
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
