/** Effective use flags: the recipe's defaults, then the user's with/without. */
import { BuilditError, type Problems } from '../errors.ts';
import type { FlagDeclaration, UseSelection } from '../config/types.ts';
import { didYouMean } from '../util/suggest.ts';

export function effectiveUse(
  flags: readonly FlagDeclaration[],
  selection: UseSelection | undefined,
  owner: string,
  problems: Problems,
): Record<string, boolean> {
  const use: Record<string, boolean> = {};
  for (const flag of flags) use[flag.name] = flag.default;
  if (!selection) return use;
  const known = flags.map((f) => f.name);
  const check = (list: 'with' | 'without') =>
    selection[list].filter((name, i) => {
      if (Object.hasOwn(use, name)) return true;
      const guess = didYouMean(name, known);
      problems.add(
        new BuilditError('BUILDIT_USE_UNKNOWN', `unknown use flag "${name}" for ${owner}`, {
          location: selection.locate([list, i]),
          hint: `${guess ? `did you mean "${guess}"? ` : ''}${known.length ? `known flags: ${known.join(', ')}` : `${owner} declares no use flags`}`,
        }),
      );
      return false;
    });
  const enabled = check('with');
  const disabled = check('without');
  selection.without.forEach((name, i) => {
    if (!enabled.includes(name)) return;
    problems.add(
      new BuilditError('BUILDIT_USE_CONFLICT', `use flag "${name}" is both in with: and without:`, {
        location: selection.locate(['without', i]),
        hint: 'keep it in one of the two lists',
      }),
    );
  });
  for (const name of enabled) use[name] = true;
  for (const name of disabled) use[name] = false;
  return use;
}
