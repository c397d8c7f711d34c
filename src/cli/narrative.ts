/**
 * The seed's narrative: one line per phase ending in [OK] or [FAILED],
 * spinners only on a TTY (ora), plain lines otherwise.
 */
import ora, { type Ora } from 'ora';
import type { CliIO } from './io.ts';

const WIDTH = 75;

export class Narrative {
  private readonly io: CliIO;
  private readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly color: boolean;
  private spinner: Ora | undefined;
  private open: string | undefined;

  constructor(io: CliIO, options: { enabled: boolean; color: boolean }) {
    this.io = io;
    this.enabled = options.enabled;
    // ora needs the terminal's width: a TTY that reports none (0 columns) gets plain lines.
    this.tty = Boolean(io.stdout.isTTY) && ((io.stdout as NodeJS.WriteStream).columns ?? 0) > 0;
    this.color = options.color && this.tty && !io.env['NO_COLOR'];
  }

  line(text: string): void {
    if (!this.enabled) return;
    this.io.stdout.write(`${text}\n`);
  }

  /** Whether a step awaits its [OK] or [FAILED]. */
  get isOpen(): boolean {
    return this.open !== undefined;
  }

  /** A step that ends in [OK] or [FAILED]. */
  begin(text: string): void {
    if (!this.enabled) return;
    this.open = text;
    if (this.tty) {
      this.spinner = ora({
        text,
        stream: this.io.stdout as NodeJS.WriteStream,
        color: this.color ? 'cyan' : false,
        isEnabled: true,
      }).start();
    } else {
      this.io.stdout.write(text);
    }
  }

  end(ok: boolean): void {
    if (!this.enabled || this.open === undefined) return;
    const text = this.open;
    this.open = undefined;
    const mark = ok ? this.paint('[OK]', 32) : this.paint('[FAILED]', 31);
    if (this.spinner) {
      this.spinner.stop();
      this.spinner = undefined;
      this.io.stdout.write(`${pad(text)}${mark}\n`);
    } else {
      this.io.stdout.write(`${' '.repeat(Math.max(1, WIDTH - text.length))}${mark}\n`);
    }
  }

  private paint(text: string, code: number): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }
}

function pad(text: string): string {
  return `${text}${' '.repeat(Math.max(1, WIDTH - text.length))}`;
}
