/**
 * Counts every inbound payload the agent refuses, by error code (reported in `Telemetry.dropped`), and logs a warning
 * at a limited rate (docs/conventions.md §3: count, warn rarely, drop). A flood of garbage on a sensor topic must neither
 * crash the agent nor fill its disk with log lines: per code, at most one warning per `warnIntervalMs`, which says
 * how many were suppressed since the previous one.
 */
import type { SitekdError } from '../shared/errors';
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/log';

/** `Telemetry.dropped` holds at most 64 codes; codes are a closed set, so this is never reached in practice. */
const MAX_CODES = 64;

export type InboundKind = 'sensor' | 'manifest' | 'chunk' | 'ack';

export class DropCounter {
  private readonly counts = new Map<string, number>();
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly warnIntervalMs = 10_000,
  ) {}

  /** Counts one refused message. Never throws. */
  record(kind: InboundKind, error: SitekdError, topic: string): void {
    const code = error.code;
    if (this.counts.has(code) || this.counts.size < MAX_CODES) this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    const now = this.clock.monotonicMs();
    const last = this.lastWarn.get(code);
    if (last !== undefined && now - last.at < this.warnIntervalMs) {
      last.suppressed++;
      return;
    }
    this.lastWarn.set(code, { at: now, suppressed: 0 });
    this.log.warn('inbound message dropped', {
      kind,
      code,
      topic: topic.slice(0, 200),
      reason: error.message.slice(0, 300),
      ...(last !== undefined && last.suppressed > 0 ? { suppressedSinceLastWarning: last.suppressed } : {}),
    });
  }

  /** Totals by code since start (a copy, for telemetry). */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  count(code: string): number {
    return this.counts.get(code) ?? 0;
  }
}
