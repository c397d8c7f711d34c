/**
 * The schemas an image step's rendered `content` must pass (SPEC §6): for OCI, the image config's
 * `config` object (image-spec config.md); for ACI, an appc ImageManifest (spec 0.8.x,
 * schema/types). Pure: JSON in, problems out, each with the path inside the content
 * (`app.exec[0]`, `Labels["org.example/x"]`) so that the caller can point at the template line.
 * Unknown keys are errors, as everywhere in buildit: a misspelt "Entrypiont" must not vanish.
 */
import { z } from 'zod';
import { knownKeys } from '../config/validate.ts';
import { didYouMean } from '../util/suggest.ts';

export interface ContentProblem {
  /** Where in the content, JS-style; "" for the whole document. */
  path: string;
  message: string;
}

const string = z.string();
const stringList = z.array(z.string());
const emptyObject = z.strictObject({}, { error: 'expected {}' });

// ---- OCI ------------------------------------------------------------------------------------

const PORT = /^([0-9]{1,5})(?:\/(tcp|udp|sctp))?$/;
const portKey = z.string().refine((key) => {
  const n = Number(PORT.exec(key)?.[1]);
  return n >= 1 && n <= 65535;
}, 'expected "<port>/tcp", "<port>/udp", "<port>/sctp" or "<port>", the port from 1 to 65535');

const ociConfig = z.strictObject({
  User: string.optional(),
  ExposedPorts: z.record(portKey, emptyObject).optional(),
  Env: z.array(z.string().regex(/^[^=]+=/, 'expected "NAME=value"')).optional(),
  Entrypoint: stringList.optional(),
  Cmd: stringList.optional(),
  Volumes: z.record(string, emptyObject).optional(),
  WorkingDir: string.optional(),
  Labels: z.record(string, string).optional(),
  StopSignal: string.optional(),
  ArgsEscaped: z.boolean().optional(),
});

// ---- appc -----------------------------------------------------------------------------------

const AC_IDENTIFIER = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
const AC_NAME = /^[a-z0-9]+([-./][a-z0-9]+)*$/;
// semver.org 2.0.0's own expression.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z_0-9]*$/;

const acIdentifier = z
  .string()
  .regex(
    AC_IDENTIFIER,
    'expected an AC identifier: lowercase letters and digits joined by single "-", ".", "_", "~" or "/"',
  );
const acName = z
  .string()
  .regex(AC_NAME, 'expected an AC name: lowercase letters and digits joined by single "-", "." or "/"');
const absolute = z.string().startsWith('/', 'expected an absolute path');
const uint = z.number().int('expected a whole number').nonnegative('expected a whole number ≥ 0');

/** appc's own list (schema/types/labels.go, v0.8.11). */
const VALID_OS_ARCH: Record<string, readonly string[]> = {
  linux: [
    'amd64',
    'i386',
    'aarch64',
    'aarch64_be',
    'armv6l',
    'armv7l',
    'armv7b',
    'ppc64',
    'ppc64le',
    's390x',
  ],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

/** Lists of `{name, value}` whose names must be unique. */
function namedList<T extends z.ZodType<{ name: string }>>(item: T, what: string) {
  return z.array(item).superRefine((items, ctx) => {
    const seen = new Set<string>();
    for (const [i, { name }] of items.entries()) {
      if (seen.has(name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate ${what} "${name}"` });
      seen.add(name);
    }
  });
}

const labels = namedList(z.strictObject({ name: acIdentifier, value: string }), 'label').superRefine(
  (items, ctx) => {
    const value = (name: string) => items.find((l) => l.name === name)?.value;
    for (const [i, label] of items.entries()) {
      if (label.name === 'name') {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: '"name" is not a label: it is the manifest\'s name',
        });
      }
    }
    const os = value('os');
    const arch = value('arch');
    const osAt = items.findIndex((l) => l.name === 'os');
    const archAt = items.findIndex((l) => l.name === 'arch');
    if (os === undefined) return;
    const arches = VALID_OS_ARCH[os];
    if (!arches) {
      const known = Object.keys(VALID_OS_ARCH).join(', ');
      ctx.addIssue({
        code: 'custom',
        path: [osAt, 'value'],
        message: `os "${os}" is not an appc os (${known})`,
      });
    } else if (arch !== undefined && !arches.includes(arch)) {
      ctx.addIssue({
        code: 'custom',
        path: [archAt, 'value'],
        message: `arch "${arch}" is not an appc arch for ${os} (${arches.join(', ')})`,
      });
    }
  },
);

const exec = z.array(string).superRefine((argv, ctx) => {
  if (argv.length > 0 && !argv[0]!.startsWith('/')) {
    ctx.addIssue({ code: 'custom', path: [0], message: 'exec[0] must be an absolute path' });
  }
});

const port = z
  .strictObject({
    name: acName,
    protocol: z.string().min(1, 'expected a protocol such as "tcp"'),
    port: uint.min(1, 'expected a port from 1 to 65535').max(65535, 'expected a port from 1 to 65535'),
    count: uint.optional(),
    socketActivated: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    // Only a range that starts at a valid port can end past the last one.
    if (p.count !== undefined && p.port <= 65535 && p.port + p.count > 65536) {
      ctx.addIssue({ code: 'custom', path: ['count'], message: 'the port range ends above 65535' });
    }
  });

const app = z.strictObject({
  exec: exec.optional(),
  eventHandlers: z
    .array(
      z.strictObject({
        name: z.enum(['pre-start', 'post-stop'], { error: 'expected "pre-start" or "post-stop"' }),
        exec,
      }),
    )
    .superRefine((handlers, ctx) => {
      const seen = new Set<string>();
      for (const [i, { name }] of handlers.entries()) {
        if (seen.has(name))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `a second "${name}" handler` });
        seen.add(name);
      }
    })
    .optional(),
  user: z.string().min(1, 'must not be empty'),
  group: z.string().min(1, 'must not be empty'),
  supplementaryGIDs: z.array(uint).optional(),
  workingDirectory: absolute.optional(),
  environment: namedList(
    z.strictObject({
      name: z.string().regex(ENV_NAME, 'expected a variable name: letters, digits and "_"'),
      value: string,
    }),
    'environment variable',
  ).optional(),
  mountPoints: z
    .array(
      z.strictObject({
        name: acName,
        path: z.string().min(1, 'must not be empty'),
        readOnly: z.boolean().optional(),
      }),
    )
    .optional(),
  ports: z.array(port).optional(),
  isolators: z.array(z.strictObject({ name: acIdentifier, value: z.unknown() })).optional(),
});

const aciManifest = z.strictObject({
  acKind: z.literal('ImageManifest', { error: 'expected "ImageManifest"' }),
  acVersion: z.string().regex(SEMVER, 'expected a semantic version such as "0.8.11"'),
  name: acIdentifier,
  labels: labels.optional(),
  app: app.optional(),
  annotations: namedList(z.strictObject({ name: acIdentifier, value: string }), 'annotation').optional(),
  dependencies: z
    .array(
      z.strictObject({
        imageName: acIdentifier,
        imageID: z
          .string()
          .regex(/^sha512-[0-9a-f]+$/, 'expected "sha512-" and hex digits')
          .optional(),
        labels: labels.optional(),
        size: uint.optional(),
      }),
    )
    .optional(),
  pathWhitelist: z.array(absolute).optional(),
});

const SCHEMAS = { oci: ociConfig, aci: aciManifest } as const;

/** Every problem with `content` as the given format's image content; [] when it is valid. */
export function validateImageContent(type: 'oci' | 'aci', content: unknown): ContentProblem[] {
  const schema = SCHEMAS[type];
  const result = schema.safeParse(content, { reportInput: true });
  if (result.success) return [];
  const problems: ContentProblem[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, path);
      for (const key of issue.keys) {
        const guess = didYouMean(key, known);
        const message = `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}`;
        problems.push({ path: formatPath([...path, key]), message });
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      // zod puts the key itself at the end of the path.
      problems.push({ path: formatPath(path), message: issue.issues[0]?.message ?? issue.message });
      continue;
    }
    problems.push({ path: formatPath(path), message: describe(issue) });
  }
  return problems;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const input = (issue as { input?: unknown }).input;
    if (input === undefined) return 'required';
    return `expected ${issue.expected === 'record' ? 'object' : issue.expected}, got ${kind(input)}`;
  }
  return issue.message;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** `app.exec[0]`, `Labels["org.example.x"]`, "" for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(String(key)))
      out += out === '' ? String(key) : `.${String(key)}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
