/**
 * URLs in messages and logs without their secrets. Recipes, locks and
 * configs may carry `https://user:token@host/…` or signed query strings
 * (`?sig=…`, `X-Amz-Signature=…`); an error message is copied into CI logs
 * and bug reports, so it must never repeat them.
 */

/** Query parameters whose value is a secret, compared case-insensitively. */
const SECRET_PARAMS = new Set([
  'token',
  'password',
  'passwd',
  'secret',
  'sig',
  'signature',
  'key',
  'access_token',
  'api_key',
  'apikey',
  'auth',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'x-goog-signature',
  'x-goog-credential',
]);

// scheme://userinfo@ — greedy up to the last '@' of the authority, as the
// WHATWG URL parser reads it, so a password holding '@' is hidden whole.
const USERINFO = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#\\]*)@/;

/**
 * `https://user:pw@host/a?token=x&v=1` → `https://***@host/a?token=***&v=1`.
 * Everything else is kept byte for byte (no re-serialization), so the
 * result still reads like what the user wrote.
 */
export function redactUrl(url: string): string {
  let out = url.replace(USERINFO, (_all, scheme: string) => `${scheme}***@`);
  const q = out.indexOf('?');
  if (q === -1) return out;
  const hash = out.indexOf('#', q);
  const end = hash === -1 ? out.length : hash;
  const query = out
    .slice(q + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && SECRET_PARAMS.has(decodeName(name).toLowerCase()) ? `${name}=***` : pair;
    })
    .join('&');
  out = `${out.slice(0, q + 1)}${query}${out.slice(end)}`;
  return out;
}

/** Every URL inside free text (an error's message, a tool's output) redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s'"<>]+/g, (url) => redactUrl(url));
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}
