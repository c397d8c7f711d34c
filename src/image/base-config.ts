/**
 * Merging a base image's config with a step's rendered one, the way
 * container-image-builder does it and users of Dockerfiles expect: Env is
 * appended (a later value of the same variable wins, in place), Labels,
 * ExposedPorts and Volumes are merged, Entrypoint/Cmd/WorkingDir/User and
 * the rest are replaced when given. Setting Entrypoint without Cmd drops the
 * base's Cmd (it was arguments for the base's entrypoint), as Docker does.
 */
type Config = Record<string, unknown>;

const MERGED_OBJECTS = ['Labels', 'ExposedPorts', 'Volumes'] as const;

export function mergeConfig(base: Config | undefined, ours: Config): Config {
  if (!base) return ours;
  const merged: Config = { ...base, ...ours };
  if ('Entrypoint' in ours && !('Cmd' in ours)) delete merged['Cmd'];
  const env = mergeEnv(asStrings(base['Env']), asStrings(ours['Env']));
  if (env.length > 0) merged['Env'] = env;
  for (const key of MERGED_OBJECTS) {
    const a = base[key];
    const b = ours[key];
    if (isObject(a) || isObject(b)) merged[key] = { ...(isObject(a) ? a : {}), ...(isObject(b) ? b : {}) };
  }
  return merged;
}

function mergeEnv(base: string[], ours: string[]): string[] {
  const out: string[] = [...base];
  const nameOf = (entry: string) => entry.split('=')[0]!;
  for (const entry of ours) {
    const at = out.findIndex((e) => nameOf(e) === nameOf(entry));
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function isObject(value: unknown): value is Config {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
