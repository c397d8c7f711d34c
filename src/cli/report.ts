/** Rendering: human lines or `--json` objects (SPEC §3). The only printing code. */
import { BuilditError, BuilditErrors } from '../errors.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import type { CliIO, CommonOptions } from './io.ts';

export class Reporter {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly debug: boolean;
  private readonly io: CliIO;

  constructor(io: CliIO, options: CommonOptions) {
    this.io = io;
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.debug = options.debug ?? false;
  }

  /** A human line on stdout (nothing with --json or --quiet). */
  line(text = ''): void {
    if (!this.json && !this.quiet) this.io.stdout.write(`${text}\n`);
  }

  /** Output that is the command's answer: printed even with --quiet. */
  answer(text: string): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** The command's answer in --quiet mode only (e.g. image digests). */
  answerQuiet(text: string): void {
    if (this.quiet && !this.json) this.io.stdout.write(`${text}\n`);
  }

  event(object: Record<string, unknown>): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(object)}\n`);
  }

  /** SPEC §3's `package` line: name, version, id, source, and where it came from. */
  packageEvent(
    node: PackageNode,
    id: string | null,
    source: string,
    extra: Record<string, unknown> = {},
  ): void {
    this.event({
      type: 'package',
      name: node.atom.name,
      version: node.atom.version,
      atom: formatAtom(node.atom),
      target: `${node.target.os}/${node.target.arch}`,
      id,
      source,
      ...extra,
    });
  }

  warn(message: string): void {
    if (this.json) this.event({ type: 'warning', message });
    else this.io.stderr.write(`warning: ${message}\n`);
  }

  /** Report a failure; returns the exit code. */
  failure(error: unknown): number {
    if (error instanceof BuilditErrors || error instanceof BuilditError) {
      const list = error instanceof BuilditErrors ? error.errors : [error];
      for (const e of list) this.error(e);
      if (!this.json && list.length > 1)
        this.io.stderr.write(`buildit: ${list.length} problems; nothing was run.\n`);
      this.event({ type: 'result', ok: false, exitCode: error.exitCode });
      return error.exitCode;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.json) this.event({ type: 'error', code: 'BUILDIT_INTERNAL', message: e.message });
    else
      this.io.stderr.write(
        `error: internal error: ${e.message}\n${this.debug ? `${e.stack}\n` : '  hint: run again with --debug for the stack trace\n'}`,
      );
    this.event({ type: 'result', ok: false, exitCode: 1 });
    return 1;
  }

  private error(e: BuilditError): void {
    if (this.json) {
      this.event({
        type: 'error',
        code: e.code,
        message: e.message,
        ...(e.location ? { file: e.location.file } : {}),
        ...(e.location?.line === undefined ? {} : { line: e.location.line }),
        ...(e.location?.col === undefined ? {} : { col: e.location.col }),
        ...(e.hint ? { hint: e.hint } : {}),
      });
      return;
    }
    const where = e.where ? `${e.where}: ` : '';
    let text = `${where}error: ${e.message} [${e.code}]\n`;
    if (e.hint) text += `  hint: ${e.hint.replace(/\n/g, '\n  ')}\n`;
    if (this.debug && e.stack) text += `${e.stack}\n`;
    this.io.stderr.write(text);
  }
}
