/** Parse container.yaml (SPEC §2.1): a list of steps, each one mapping with one key. */
import type { z } from 'zod';
import { BuilditError, Problems } from '../errors.ts';
import { didYouMean } from '../util/suggest.ts';
import { isMapping } from './document.ts';
import { locator, toUseSelection } from './parts.ts';
import {
  IMAGE_TYPES,
  PACKAGE_TYPES,
  STEP_KINDS,
  type StepKind,
  syncStep,
  varsStep,
} from './schema/container.ts';
import type { ContainerSpec, Step } from './types.ts';
import { kindOf, validate } from './validate.ts';
import { parseYaml, type Path, type YamlFile } from './yaml.ts';

export function parseContainer(text: string, file: string): ContainerSpec {
  const yaml = parseYaml(text, file);
  const problems = new Problems();
  if (!Array.isArray(yaml.value)) {
    problems.add(
      new BuilditError(
        'BUILDIT_CONTAINER_NOT_LIST',
        `container.yaml must be a list of steps, got ${kindOf(yaml.value)}`,
        {
          location: yaml.locate([]),
          hint: 'each step is a list item: "- vars: …", "- package: …", "- sync: …" or "- image: …"',
        },
      ),
    );
    problems.throwIfAny();
  }
  const steps: Step[] = [];
  (yaml.value as unknown[]).forEach((item, i) => {
    const step = parseStep(yaml, item, i, problems);
    if (step) steps.push(step);
  });
  if (problems.empty && steps.length === 0) {
    problems.add(
      new BuilditError('BUILDIT_CONTAINER_EMPTY', 'container.yaml has no steps', {
        location: yaml.locate([]),
        hint: 'add at least a package step and an image step',
      }),
    );
  }
  problems.throwIfAny();
  return { file, steps };
}

function parseStep(yaml: YamlFile, item: unknown, i: number, problems: Problems): Step | undefined {
  const keys = isMapping(item) ? Object.keys(item) : [];
  if (keys.length !== 1) {
    problems.add(
      new BuilditError(
        'BUILDIT_STEP_KEYS',
        isMapping(item)
          ? `step ${i + 1} has ${keys.length === 0 ? 'no keys' : `${keys.length} keys (${keys.join(', ')})`}; a step has exactly one`
          : `step ${i + 1} must be a mapping with one key, got ${kindOf(item)}`,
        {
          location: yaml.locate(keys.length > 1 ? [i, keys[1]!] : [i], 'key'),
          hint: 'start each step with its own "- ": "- package: …" then "- sync: …"',
        },
      ),
    );
    return undefined;
  }
  const kind = keys[0]!;
  if (!(STEP_KINDS as readonly string[]).includes(kind)) {
    const guess = didYouMean(kind, STEP_KINDS);
    problems.add(
      new BuilditError('BUILDIT_STEP_UNKNOWN', `unknown step "${kind}"`, {
        location: yaml.locate([i, kind], 'key'),
        hint: guess ? `did you mean "${guess}"?` : `steps are ${STEP_KINDS.join(', ')}`,
      }),
    );
    return undefined;
  }
  const path: Path = [i, kind];
  const body = (item as Record<string, unknown>)[kind];
  const locate = locator(yaml, path);
  switch (kind as StepKind) {
    case 'vars': {
      const vars = validate(yaml, varsStep, body, path, problems);
      return vars && { kind: 'vars', vars, locate };
    }
    case 'package': {
      const value = typed(yaml, body, path, 'package', PACKAGE_TYPES, problems);
      if (!value) return undefined;
      if (value.type === 'embedded') return { kind: 'package', type: 'embedded', path: value.path, locate };
      return {
        kind: 'package',
        type: 'recipe',
        atom: value.atom,
        use: toUseSelection(yaml, [...path, 'use'], value.use),
        locate,
      };
    }
    case 'sync': {
      const value = validate(yaml, syncStep, body, path, problems);
      if (!value) return undefined;
      return {
        kind: 'sync',
        src: value.src,
        dest: value.dest,
        recursive: value.recursive ?? false,
        ...(value.chmod === undefined ? {} : { mode: value.chmod }),
        owner: value.owner ?? { uid: 0, gid: 0 },
        locate,
      };
    }
    case 'image': {
      const value = typed(yaml, body, path, 'image', IMAGE_TYPES, problems);
      if (!value) return undefined;
      return {
        kind: 'image',
        type: value.type,
        content: value.content,
        ...(value.name === undefined ? {} : { name: value.name }),
        ...('tag' in value && value.tag !== undefined ? { tag: value.tag } : {}),
        ...('base' in value && value.base !== undefined ? { base: value.base } : {}),
        push: ('push' in value ? value.push : undefined) ?? [],
        locate,
      };
    }
  }
}

/** A mapping whose `type:` picks its schema; a missing or unknown type gets its own code. */
function typed<T extends Record<string, z.ZodType>>(
  yaml: YamlFile,
  body: unknown,
  path: Path,
  what: 'package' | 'image',
  types: T,
  problems: Problems,
): z.output<T[keyof T]> | undefined {
  const area = what.toUpperCase();
  const names = Object.keys(types);
  if (!isMapping(body)) {
    problems.add(
      new BuilditError('BUILDIT_SCHEMA_TYPE', `${what} step: expected a mapping, got ${kindOf(body)}`, {
        location: yaml.locate(path),
        hint: `e.g. ${what}: { type: ${names[0]}, … }`,
      }),
    );
    return undefined;
  }
  const type = body['type'];
  if (type === undefined) {
    problems.add(
      new BuilditError(`BUILDIT_${area}_TYPE_MISSING`, `${what} step has no type`, {
        location: yaml.locate(path),
        hint: `add type: ${names.join(' or type: ')}`,
      }),
    );
    return undefined;
  }
  if (typeof type !== 'string' || !Object.hasOwn(types, type)) {
    const guess = typeof type === 'string' ? didYouMean(type, names) : undefined;
    problems.add(
      new BuilditError(`BUILDIT_${area}_TYPE_UNKNOWN`, `unknown ${what} type ${JSON.stringify(type)}`, {
        location: yaml.locate([...path, 'type']),
        hint: guess ? `did you mean "${guess}"? types: ${names.join(', ')}` : `types: ${names.join(', ')}`,
      }),
    );
    return undefined;
  }
  return validate(yaml, types[type]!, body, path, problems) as z.output<T[keyof T]> | undefined;
}
