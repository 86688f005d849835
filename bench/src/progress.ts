/**
 * The progress shown on stderr while a run goes on (stdout keeps the table alone). On a terminal:
 * one line, redrawn a few times a second, with a bar, the share done, the time so far and the
 * step; lines logged meanwhile print above it. Elsewhere (a pipe, CI): one plain line per step.
 * The bar moves by each step's expected duration, so it never runs backwards; a step that takes
 * longer than expected stops short of its share until it ends. The arithmetic and the rendering
 * are pure; `Progress` is the shell that owns the timer and the stream.
 */

export interface Step {
  readonly label: string;
  readonly expectedSeconds: number;
}

/** The share of the run done (0..1): the steps before `index` whole, step `index` up to 95 % of its share. */
export function progressFraction(steps: readonly Step[], index: number, secondsInStep: number): number {
  const total = steps.reduce((sum, s) => sum + s.expectedSeconds, 0);
  if (total <= 0) return 0;
  let done = 0;
  for (let i = 0; i < Math.min(index, steps.length); i++) done += (steps[i] as Step).expectedSeconds;
  const current = steps[index];
  if (current !== undefined) done += Math.min(Math.max(0, secondsInStep), 0.95 * current.expectedSeconds);
  return Math.min(1, done / total);
}

/** 83 → "1:23". */
export function clock(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

/** "[#########···········]  45%  1:02  produce 1 KiB, acks=all", cut to `columns`. */
export function renderLine(fraction: number, elapsedSeconds: number, label: string, columns: number): string {
  const width = 24;
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  const percent = `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`.padStart(4);
  const line = `[${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${percent}  ${clock(elapsedSeconds)}  ${label}`;
  const chars = [...line];
  return chars.length <= columns ? line : `${chars.slice(0, Math.max(0, columns - 1)).join('')}…`;
}

/** "[3/9 1:02] produce 1 KiB, acks=all": a step's line where the output is not a terminal. */
export function renderStepLine(index: number, count: number, elapsedSeconds: number, label: string): string {
  return `[${index + 1}/${count} ${clock(elapsedSeconds)}] ${label}`;
}

interface Output {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

export class Progress {
  readonly #steps: readonly Step[];
  readonly #out: Output;
  readonly #now: () => number;
  readonly #startMs: number;
  #index = -1;
  #stepStartMs = 0;
  #label = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(steps: readonly Step[], out: Output = process.stderr, now: () => number = () => performance.now()) {
    this.#steps = steps;
    this.#out = out;
    this.#now = now;
    this.#startMs = now();
  }

  get #tty(): boolean {
    return this.#out.isTTY === true;
  }

  /** Seconds since the run started. */
  get elapsedSeconds(): number {
    return (this.#now() - this.#startMs) / 1000;
  }

  /**
   * Moves to the step named `label` (the next one if it is not in the plan); `detail` adds to its
   * label. Named again while it runs, the step stays where it is and only its detail changes.
   */
  step(label: string, detail = ''): void {
    if (this.#steps[this.#index]?.label !== label) {
      const found = this.#steps.findIndex((s, i) => i > this.#index && s.label === label);
      this.#index = found === -1 ? this.#index + 1 : found;
      this.#stepStartMs = this.#now();
    }
    this.#label = detail === '' ? label : `${label}: ${detail}`;
    if (this.#tty) {
      this.#timer ??= setInterval(() => this.#draw(), 250).unref();
      this.#draw();
    } else {
      this.#out.write(`${renderStepLine(this.#index, this.#steps.length, this.elapsedSeconds, this.#label)}\n`);
    }
  }

  /** A line above the bar (or among the step lines). */
  log(text: string): void {
    if (this.#tty) {
      this.#out.write(`\r\x1b[2K${text}\n`);
      if (this.#timer !== undefined) this.#draw();
    } else {
      this.#out.write(`${text}\n`);
    }
  }

  /** Removes the bar; later output starts on a clean line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty) this.#out.write('\r\x1b[2K');
  }

  #draw(): void {
    const fraction = progressFraction(this.#steps, this.#index, (this.#now() - this.#stepStartMs) / 1000);
    const columns = this.#out.columns ?? 80;
    this.#out.write(`\r\x1b[2K${renderLine(fraction, this.elapsedSeconds, this.#label, columns)}`);
  }
}
