/**
 * Training progress for the CLI. On a terminal: one bar per epoch, redrawn in place with `\r`
 *   `epoch 3/10 [=========>          ] 42% loss 0.512 · 1.2 s`
 * and left on screen (with the epoch's metrics) when the epoch ends. Elsewhere (systemd, cron, pipes, CI logs) only
 * one plain line per epoch, because `\r` redraws turn into thousands of log lines there (docs/ecosystem.md §5).
 * No dependency: cli-progress would be the only reason to pull one in. The clock is injected for tests (docs/conventions.md
 * §5) and redraws are throttled, so a fast step loop does not spend its time writing to the terminal.
 */

/** The part of `process.stderr` we use; tests pass a fake. */
export interface ProgressStream {
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  readonly stream?: ProgressStream;
  /** Milliseconds, monotonic. */
  readonly clock?: () => number;
  /** Minimum time between two in-place redraws; 100 ms ≈ 10 Hz. */
  readonly minIntervalMs?: number;
  /** Width of the bar between the brackets, before shrinking to fit the terminal. */
  readonly barWidth?: number;
}

/** Progress within an epoch; `epoch` is 1-based, `step` counts completed steps out of `steps`. */
export interface ProgressTick {
  readonly epoch: number;
  readonly step: number;
  readonly steps: number;
  readonly loss?: number;
}

export interface EpochSummary {
  readonly epoch: number;
  readonly loss?: number;
  /** Extra numbers to show, e.g. `{ valMacroF1: 0.81 }`, in insertion order. */
  readonly metrics?: Readonly<Record<string, number>>;
}

const MIN_BAR_WIDTH = 5;

export class ProgressReporter {
  private readonly stream: ProgressStream;
  private readonly clock: () => number;
  private readonly minIntervalMs: number;
  private readonly barWidth: number;
  private readonly startedAt: number;
  private lastDrawAt: number | undefined;
  /** Length of the partial line currently on screen (0 = cursor at the start of a fresh line). */
  private pendingLen = 0;

  constructor(
    private readonly totalEpochs: number,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.clock = opts.clock ?? ((): number => performance.now());
    this.minIntervalMs = opts.minIntervalMs ?? 100;
    this.barWidth = opts.barWidth ?? 20;
    this.startedAt = this.clock();
  }

  /** Redraws the bar on a TTY, at most once per `minIntervalMs`; does nothing otherwise. */
  tick(t: ProgressTick): void {
    if (this.stream.isTTY !== true) return;
    const now = this.clock();
    if (this.lastDrawAt !== undefined && now - this.lastDrawAt < this.minIntervalMs) return;
    this.lastDrawAt = now;
    const fraction = t.steps > 0 ? t.step / t.steps : 0;
    this.drawInPlace(this.barLine(t.epoch, fraction, lossParts(t.loss), now));
  }

  /** Always prints: the completed bar plus metrics on a TTY, one plain line otherwise. */
  epochEnd(s: EpochSummary): void {
    const now = this.clock();
    const parts = [...lossParts(s.loss), ...Object.entries(s.metrics ?? {}).map(([k, v]) => `${k} ${formatNumber(v)}`)];
    if (this.stream.isTTY === true) {
      this.drawInPlace(this.barLine(s.epoch, 1, parts, now));
      this.stream.write('\n');
      this.pendingLen = 0;
      // The next epoch's first tick draws immediately instead of waiting out the throttle.
      this.lastDrawAt = undefined;
      return;
    }
    const line = [`epoch ${s.epoch}/${this.totalEpochs}`, ...parts].join(' ');
    this.stream.write(`${line} · ${formatElapsed(now - this.startedAt)}\n`);
  }

  /** Ends a half-drawn bar line (e.g. training aborted mid-epoch) so later output starts on a fresh line. */
  finish(): void {
    if (this.pendingLen > 0) {
      this.stream.write('\n');
      this.pendingLen = 0;
    }
  }

  private barLine(epoch: number, fraction: number, parts: readonly string[], now: number): string {
    const f = Math.min(1, Math.max(0, fraction));
    const head = `epoch ${epoch}/${this.totalEpochs}`;
    const tail = [`${Math.floor(f * 100)}%`, ...parts, '·', formatElapsed(now - this.startedAt)].join(' ');
    const maxLen = this.maxLineLength();
    // Shrink the bar first, drop it if it gets too small, and only then cut the text: never wrap, since a wrapped
    // line cannot be redrawn with `\r`.
    const room = maxLen - head.length - tail.length - 4; // two spaces + two brackets
    const width = Math.min(this.barWidth, room);
    const line = width >= MIN_BAR_WIDTH ? `${head} [${renderBar(f, width)}] ${tail}` : `${head} ${tail}`;
    return line.slice(0, maxLen);
  }

  private maxLineLength(): number {
    const columns = this.stream.columns;
    // Leave the last column free: some terminals wrap as soon as it is written.
    return columns !== undefined && columns > 1 ? columns - 1 : Number.POSITIVE_INFINITY;
  }

  private drawInPlace(line: string): void {
    // Pad with spaces over the previous, possibly longer, line instead of an ANSI clear: works on every terminal.
    const pad = this.pendingLen > line.length ? ' '.repeat(this.pendingLen - line.length) : '';
    this.stream.write(`\r${line}${pad}`);
    this.pendingLen = line.length;
  }
}

function renderBar(fraction: number, width: number): string {
  const filled = Math.floor(fraction * width);
  if (filled >= width) return '='.repeat(width);
  return `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
}

function lossParts(loss: number | undefined): string[] {
  return loss === undefined ? [] : [`loss ${formatNumber(loss)}`];
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs === 0 || (abs >= 1e-3 && abs < 1e5)) return x.toFixed(3);
  return x.toExponential(2);
}

function formatElapsed(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}
