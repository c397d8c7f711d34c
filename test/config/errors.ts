/** What a parser threw, flattened to its BuilditErrors, for assertions on codes and locations. */
import assert from 'node:assert/strict';
import { BuilditError, BuilditErrors } from '../../src/errors.ts';

export function errorsOf(fn: () => unknown): BuilditError[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof BuilditErrors) return [...error.errors];
    if (error instanceof BuilditError) return [error];
    throw error;
  }
  assert.fail('expected a BuilditError, but nothing was thrown');
}

/** The one error fn throws; fails when it throws none or several. */
export function errorOf(fn: () => unknown): BuilditError {
  const errors = errorsOf(fn);
  assert.equal(errors.length, 1, `expected one error, got: ${errors.map((e) => e.code).join(', ')}`);
  return errors[0]!;
}

/** A parsed value as plain JSON data (drops locators; YAML mappings have a null prototype). */
export function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
