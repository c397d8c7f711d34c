/** Parse .buildit-config.yaml (SPEC §2.4). */
import { Problems } from '../errors.ts';
import { locator } from './parts.ts';
import { configSchema } from './schema/config.ts';
import type { BuilditConfig } from './types.ts';
import { validate } from './validate.ts';
import { parseYaml } from './yaml.ts';
import { mappingAt } from './document.ts';

export function parseConfig(text: string, file: string): BuilditConfig {
  const yaml = parseYaml(text, file);
  const problems = new Problems();
  // An empty file is a valid config with every default.
  const doc = yaml.value === null ? {} : mappingAt(yaml, [], 'a buildit configuration', problems);
  const value = doc && validate(yaml, configSchema, doc, [], problems);
  problems.throwIfAny();
  return {
    file,
    repositories: [...(value!.repository ? [value!.repository] : []), ...(value!.repositories ?? [])],
    discover: value!.discover ?? [],
    recipes: value!.recipes ?? [],
    ...(value!.store === undefined ? {} : { store: value!.store }),
    trustedKeys: value!['trusted-keys'] ?? [],
    ...(value!['signing-key'] === undefined ? {} : { signingKey: value!['signing-key'] }),
    ...(value!.output === undefined ? {} : { output: value!.output }),
    locate: locator(yaml, []),
  };
}
