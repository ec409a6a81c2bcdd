/**
 * Counts inbound messages a process refuses, by error code and by kind (the topic or source they came on), and logs
 * them at a limited rate. Receivers drop a payload they cannot use and count it by code; they never crash on it
 * (docs/protocol.md, Conventions). The agent reports the counts as `Telemetry.dropped`, the hub in its stats.
 *
 * Rate limit: per code, at most one warning per `warnIntervalMs` of the injected clock's monotonic time, which says
 * how many drops of that code were suppressed since the previous warning. A flood of garbage then neither fills the
 * log nor hides that it is still going on (a count-based "every 100th" would go silent on a slow trickle).
 */
import type { Clock } from './clock';
import type { SitekdError } from './errors';
import type { Logger } from './log';

/** `Telemetry.dropped` holds at most 64 codes; codes are a closed set, so this is never reached in practice. */
const MAX_CODES = 64;
/** Fields in the warning come from untrusted messages (topics, ids): each string is cut to this length. */
const MAX_FIELD_CHARS = 200;
const MAX_REASON_CHARS = 300;

export interface DropCounterOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Per code, at most one warning per this many ms (default 10 s). */
  readonly warnIntervalMs?: number;
}

export class DropCounter<K extends string = string> {
  private readonly codes = new Map<string, number>();
  private readonly kinds = new Map<K, number>();
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();
  private all = 0;
  private readonly warnIntervalMs: number;

  constructor(private readonly o: DropCounterOptions) {
    this.warnIntervalMs = o.warnIntervalMs ?? 10_000;
  }

  /** Counts one refused message and maybe warns. `fields` (site, agent, topic, …) go into the warning. Never throws. */
  record(kind: K, error: Pick<SitekdError, 'code' | 'message'>, fields: Readonly<Record<string, unknown>> = {}): void {
    const code = error.code;
    this.all++;
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
    if (!this.codes.has(code) && this.codes.size >= MAX_CODES) return;
    const n = (this.codes.get(code) ?? 0) + 1;
    this.codes.set(code, n);
    const now = this.o.clock.monotonicMs();
    const last = this.lastWarn.get(code);
    if (last !== undefined && now - last.at < this.warnIntervalMs) {
      last.suppressed++;
      return;
    }
    this.lastWarn.set(code, { at: now, suppressed: 0 });
    this.o.log.warn('inbound message dropped', {
      kind,
      code,
      reason: error.message.slice(0, MAX_REASON_CHARS),
      total: n,
      ...truncated(fields),
      ...(last !== undefined && last.suppressed > 0 ? { suppressedSinceLastWarning: last.suppressed } : {}),
    });
  }

  /** Drops so far by code, sorted by code (a copy; the shape of `Telemetry.dropped`). */
  byCode(): Record<string, number> {
    return sortedObject(this.codes);
  }

  /** Drops so far by kind, sorted by kind (a copy). */
  byKind(): Record<string, number> {
    return sortedObject(this.kinds);
  }

  /** Drops so far of one code. */
  count(code: string): number {
    return this.codes.get(code) ?? 0;
  }

  /** Every drop so far, also those beyond the code limit. */
  total(): number {
    return this.all;
  }
}

function sortedObject(m: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function truncated(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === 'string' ? v.slice(0, MAX_FIELD_CHARS) : v;
  return out;
}
