/**
 * `WWW-Authenticate` (RFC 9110 §11.6.1): one or more challenges, each a
 * scheme and `name=value` parameters (token or quoted string). Pure.
 *   Basic realm="Registry"
 *   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
 */

export interface Challenge {
  /** Lower case: `basic`, `bearer`, … */
  scheme: string;
  /** Parameter names in lower case. */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  const skip = (re: RegExp): void => {
    rest = rest.replace(re, '');
  };
  skip(/^[\s,]+/);
  while (rest !== '') {
    const token = TOKEN.exec(rest)?.[0];
    if (token === undefined) break; // garbage: keep what was understood
    const after = rest.slice(token.length);
    const param = /^\s*=/.exec(after);
    if (param && current) {
      rest = after.slice(param[0].length).replace(/^\s*/, '');
      const value = readValue();
      if (value === undefined) break;
      current.params[token.toLowerCase()] = value;
    } else if (param && !current) {
      break;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
      rest = after;
      // token68 (`Basic abc==`): kept as a parameter-less challenge.
      const t68 = /^\s+[A-Za-z0-9\-._~+/]+=*\s*(?:,|$)/.exec(rest);
      if (t68) rest = rest.slice(t68[0].length);
    }
    skip(/^[\s,]+/);
  }
  return challenges;

  function readValue(): string | undefined {
    if (rest.startsWith('"')) {
      let value = '';
      for (let i = 1; i < rest.length; i++) {
        const c = rest[i]!;
        if (c === '\\' && i + 1 < rest.length) value += rest[++i];
        else if (c === '"') {
          rest = rest.slice(i + 1);
          return value;
        } else value += c;
      }
      return undefined; // unterminated
    }
    const token = /^[^\s,]*/.exec(rest)![0];
    rest = rest.slice(token.length);
    return token;
  }
}

/** The challenge we can answer: Bearer before Basic; undefined when there is neither. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/** `repository:<name>:pull` or `repository:<name>:pull,push`. */
export function repositoryScope(repository: string, actions: 'pull' | 'push'): string {
  return `repository:${repository}:${actions === 'push' ? 'pull,push' : 'pull'}`;
}
