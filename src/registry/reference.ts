/**
 * Image references (`registry[:port]/path/name[:tag][@sha256:…]`) following
 * the grammar of distribution/reference, with Docker's defaults: no domain
 * means docker.io, a one-component docker.io name lives under `library/`,
 * neither tag nor digest means `latest`. Pure.
 */
import { BuilditError } from '../errors.ts';

export interface ImageReference {
  /** `docker.io`, `ghcr.io`, `localhost:5000`, … (docker.io's aliases are folded into it). */
  registry: string;
  /** `library/alpine`, `org/app`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** What the user wrote. */
  text: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where docker.io's distribution API answers. */
export const DOCKER_HUB_API_HOST = 'index.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = new RegExp(`^${ALNUM}(?:${SEPARATOR}${ALNUM})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const NAME_MAX = 255;

const HINT =
  'write registry/repository[:tag][@sha256:<64 hex>], e.g. ghcr.io/org/app:1.0 or localhost:5000/app; ' +
  'repository components are lower case letters and digits separated by ".", "_", "__" or "-"';

export function parseReference(text: string): ImageReference {
  const bad = (why: string): BuilditError =>
    new BuilditError('BUILDIT_REGISTRY_REFERENCE', `image reference ${JSON.stringify(text)}: ${why}`, {
      hint: HINT,
      exitCode: 2,
    });
  if (text === '' || text !== text.trim()) throw bad('empty or surrounded by spaces');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw bad(`the digest ${JSON.stringify(digest)} is not sha256:<64 lower-case hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag ${JSON.stringify(tag)} is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  const { domain, path } = splitDomain(rest);
  if (domain !== undefined && !DOMAIN.test(domain))
    throw bad(`${JSON.stringify(domain)} is not a host[:port]`);
  if (path === '') throw bad('it names no repository');
  if (path.length > NAME_MAX) throw bad(`the repository name is longer than ${NAME_MAX} characters`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      throw bad(
        component === ''
          ? 'it has an empty path component'
          : /[A-Z]/.test(component)
            ? `the repository ${JSON.stringify(path)} must be lower case`
            : `${JSON.stringify(component)} is not a valid repository component`,
      );
    }
  }

  const registry = domain === undefined || DOCKER_HUB_ALIASES.has(domain) ? DOCKER_HUB : domain;
  const repository = registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
  return {
    registry,
    repository,
    ...(tag === undefined && digest === undefined ? { tag: 'latest' } : tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    text,
  };
}

/** Docker's rule: the first component is a domain when it has a '.' or ':', is localhost, or has upper case. */
function splitDomain(name: string): { domain: string | undefined; path: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: undefined, path: name };
  const first = name.slice(0, slash);
  const isDomain = /[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase();
  return isDomain ? { domain: first, path: name.slice(slash + 1) } : { domain: undefined, path: name };
}

/** The host the distribution API is reached at. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** Whether `registry` names Docker Hub under any of its names. */
export function isDockerHub(registry: string): boolean {
  return DOCKER_HUB_ALIASES.has(registry);
}

/** `registry/repository[:tag][@digest]`, the canonical spelling. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** What a manifest is fetched or pushed under: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
