/** Conversions shared by the recipe and pkg.yaml parsers. */
import type { z } from 'zod';
import type { Problems } from '../errors.ts';
import { BuilditError } from '../errors.ts';
import type { Atom } from '../recipe/atom.ts';
import { patchList, patchMap, type dependsSchema, type useSelection } from './schema/common.ts';
import type { flagDeclarations } from './schema/recipe.ts';
import type { DependsSpec, FlagDeclaration, Locator, PatchSpec, UseSelection } from './types.ts';
import { validate } from './validate.ts';
import type { Path, YamlFile } from './yaml.ts';

export function locator(yaml: YamlFile, base: Path): Locator {
  const locate = (sub: Path = [], part: 'key' | 'value' = 'value') => yaml.locate([...base, ...sub], part);
  return Object.assign(locate, { text: (sub: Path) => yaml.textOrigin([...base, ...sub]) });
}

export function isUrl(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref);
}

export function toDepends(
  yaml: YamlFile,
  base: Path,
  value: z.output<typeof dependsSchema> | undefined,
): DependsSpec {
  const list = (kind: 'build' | 'run') =>
    (value?.[kind] ?? []).map((atom: Atom, i: number) => ({
      atom,
      location: yaml.locate([...base, kind, i]),
    }));
  return { build: list('build'), run: list('run') };
}

export function toUseSelection(
  yaml: YamlFile,
  base: Path,
  value: z.output<typeof useSelection> | undefined,
): UseSelection {
  return { with: value?.with ?? [], without: value?.without ?? [], locate: locator(yaml, base) };
}

export function toFlags(
  yaml: YamlFile,
  base: Path,
  value: z.output<typeof flagDeclarations> | undefined,
): FlagDeclaration[] {
  return Object.entries(value ?? {}).map(([name, decl]) => ({
    name,
    default: decl.default ?? false,
    enable: decl.enable ?? [],
    disable: decl.disable ?? [],
    ...(decl.description === undefined ? {} : { description: decl.description }),
    depends: toDepends(yaml, [...base, name, 'depends'], decl.depends),
  }));
}

/** Patches in map form (`ref: description`) or list form (`- { file | url, … }`). */
export function parsePatches(yaml: YamlFile, value: unknown, base: Path, problems: Problems): PatchSpec[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    const items = validate(yaml, patchList, value, base, problems) ?? [];
    const out: PatchSpec[] = [];
    items.forEach((item, i) => {
      const location = yaml.locate([...base, i]);
      const ref = item.file ?? item.url;
      if (ref === undefined || (item.file !== undefined && item.url !== undefined)) {
        problems.add(
          new BuilditError('BUILDIT_PATCH_KIND', 'a patch has either file: or url:', {
            location,
            hint: 'e.g. - { file: patches/fix.patch, description: "…" }',
          }),
        );
        return;
      }
      out.push({
        kind: item.url !== undefined ? 'url' : 'file',
        ref,
        ...(item.description === undefined ? {} : { description: item.description }),
        ...(item.sha256 === undefined ? {} : { sha256: item.sha256 }),
        strip: item.strip ?? 1,
        location,
      });
    });
    return out;
  }
  const map = validate(yaml, patchMap, value, base, problems) ?? {};
  return Object.entries(map).map(([ref, description]) => ({
    kind: isUrl(ref) ? 'url' : 'file',
    ref,
    ...(description ? { description } : {}),
    strip: 1,
    location: yaml.locate([...base, ref], 'key'),
  }));
}
