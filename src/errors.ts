/**
 * Every failure buildit reports is a BuilditError: a stable code
 * (`BUILDIT_<AREA>_<WHAT>`), a message, a hint, and — when the input is at
 * fault — the file, line and column. Only `cli/` renders them.
 */

export interface SourceLocation {
  file: string;
  line?: number;
  col?: number;
}

/** 2: the input or the command line is wrong; 1: a build, fetch or push failed. */
export type ExitCode = 1 | 2;

export interface BuilditErrorOptions {
  hint?: string;
  location?: SourceLocation;
  cause?: unknown;
  exitCode?: ExitCode;
}

export class BuilditError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly location: SourceLocation | undefined;
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, options: BuilditErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuilditError';
    this.code = code;
    this.hint = options.hint;
    this.location = options.location;
    this.exitCode = options.exitCode ?? 2;
  }

  /** `file:line:col` (as much of it as is known), or undefined. */
  get where(): string | undefined {
    const loc = this.location;
    if (!loc) return undefined;
    if (loc.line === undefined) return loc.file;
    return loc.col === undefined ? `${loc.file}:${loc.line}` : `${loc.file}:${loc.line}:${loc.col}`;
  }
}

/** Several problems found in one pass over the input; all are reported at once. */
export class BuilditErrors extends Error {
  readonly errors: readonly BuilditError[];

  constructor(errors: readonly BuilditError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'BuilditErrors';
    this.errors = errors;
  }

  get exitCode(): ExitCode {
    return this.errors.some((e) => e.exitCode === 2) ? 2 : 1;
  }
}

/**
 * Collects problems while a validation pass goes on, so that the user sees
 * every one of them, not just the first.
 */
export class Problems {
  readonly list: BuilditError[] = [];

  add(error: BuilditError): void {
    this.list.push(error);
  }

  /** Runs fn; a BuilditError(s) it throws is recorded and undefined returned. */
  capture<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.absorb(error);
      return undefined;
    }
  }

  async captureAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      this.absorb(error);
      return undefined;
    }
  }

  absorb(error: unknown): void {
    if (error instanceof BuilditErrors) this.list.push(...error.errors);
    else if (error instanceof BuilditError) this.list.push(error);
    else throw error;
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  throwIfAny(): void {
    if (this.list.length === 1) throw this.list[0];
    if (this.list.length > 1) throw new BuilditErrors(this.list);
  }
}

export function isBuilditError(error: unknown): error is BuilditError | BuilditErrors {
  return error instanceof BuilditError || error instanceof BuilditErrors;
}
