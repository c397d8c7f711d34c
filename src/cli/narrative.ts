/**
 * The seed's narrative: one line per phase ending in [OK] or [FAILED],
 * spinners only on a terminal (ora), plain lines otherwise. With parallel
 * builds each package's lines are printed together once it is done, while a
 * spinner on a terminal shows what is in flight.
 */
import type { default as makeSpinner, Ora } from 'ora';
import type { CliIO } from './io.ts';

const WIDTH = 75;

export class Narrative {
  /**
   * A narrative for `io`. ora is loaded only for a terminal that will see spinners: the import
   * costs ~30 ms, a tenth of a no-op build.
   */
  static async create(io: CliIO, options: { enabled: boolean; color: boolean }): Promise<Narrative> {
    const story = new Narrative(io, options);
    if (story.enabled && story.tty) story.ora = (await import('ora')).default;
    return story;
  }

  private readonly io: CliIO;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly color: boolean;
  private spinner: Ora | undefined;
  private open: string | undefined;
  private ora: typeof makeSpinner | undefined;

  private constructor(io: CliIO, options: { enabled: boolean; color: boolean }) {
    this.io = io;
    this.enabled = options.enabled;
    // ora needs the terminal's width: a TTY that reports none (0 columns) gets plain lines.
    this.tty = Boolean(io.stdout.isTTY) && ((io.stdout as NodeJS.WriteStream).columns ?? 0) > 0;
    this.color = options.color && this.tty && !io.env['NO_COLOR'];
  }

  /** Lines printed whole (above the spinner, if one spins). */
  print(lines: readonly string[]): void {
    if (!this.enabled || lines.length === 0) return;
    const spinning = this.spinner?.isSpinning;
    if (spinning) this.spinner!.clear();
    this.io.stdout.write(`${lines.join('\n')}\n`);
    if (spinning) this.spinner!.render();
  }

  line(text: string): void {
    this.print([text]);
  }

  /** `text` padded, then [OK] or [FAILED]. */
  step(text: string, ok: boolean): string {
    const mark = ok ? this.paint('[OK]', 32) : this.paint('[FAILED]', 31);
    return `${text}${' '.repeat(Math.max(1, WIDTH - text.length))}${mark}`;
  }

  /** What is in flight, on a terminal only; undefined stops the spinner. */
  live(text: string | undefined): void {
    if (!this.enabled || !this.tty) return;
    if (text === undefined) {
      this.spinner?.stop();
      this.spinner = undefined;
    } else if (this.spinner) {
      this.spinner.text = text;
    } else {
      this.spinner = this.spin(text);
    }
  }

  /** Whether a step awaits its [OK] or [FAILED]. */
  get isOpen(): boolean {
    return this.open !== undefined;
  }

  /** A single step that ends in [OK] or [FAILED] (images, publishing: one at a time). */
  begin(text: string): void {
    if (!this.enabled) return;
    this.open = text;
    if (this.tty) this.spinner = this.spin(text);
    else this.io.stdout.write(text);
  }

  end(ok: boolean): void {
    if (!this.enabled || this.open === undefined) return;
    const text = this.open;
    this.open = undefined;
    if (this.spinner) {
      this.spinner.stop();
      this.spinner = undefined;
      this.io.stdout.write(`${this.step(text, ok)}\n`);
    } else {
      this.io.stdout.write(`${this.step(text, ok).slice(text.length)}\n`);
    }
  }

  private spin(text: string): Ora {
    return this.ora!({
      text,
      stream: this.io.stdout as NodeJS.WriteStream,
      color: this.color ? 'cyan' : false,
      isEnabled: true,
    }).start();
  }

  private paint(text: string, code: number): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }
}
