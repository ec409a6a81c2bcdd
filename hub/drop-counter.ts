/**
 * Counts inbound messages the hub dropped, by error code and by topic kind (docs/conventions.md §3: untrusted input is
 * returned as a Result, counted and dropped, never thrown). Logs the first drop of each code and then every
 * 100th, so a flood of garbage cannot flood the log too.
 */
import type { SitekdError } from '../shared/errors';
import type { Logger } from '../shared/log';

export class DropCounter {
  private readonly byCode = new Map<string, number>();
  private readonly byKind = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  count(kind: string, err: Pick<SitekdError, 'code' | 'message'>, fields: Record<string, unknown> = {}): void {
    const n = (this.byCode.get(err.code) ?? 0) + 1;
    this.byCode.set(err.code, n);
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    if (n === 1 || n % 100 === 0) this.log.warn('message dropped', { kind, code: err.code, error: err.message.slice(0, 300), total: n, ...fields });
  }

  /** Drops so far, by code (the shape of Telemetry.dropped). */
  codes(): Record<string, number> {
    return Object.fromEntries([...this.byCode].sort(([a], [b]) => a.localeCompare(b)));
  }

  kinds(): Record<string, number> {
    return Object.fromEntries([...this.byKind].sort(([a], [b]) => a.localeCompare(b)));
  }

  total(): number {
    let t = 0;
    for (const n of this.byCode.values()) t += n;
    return t;
  }
}
