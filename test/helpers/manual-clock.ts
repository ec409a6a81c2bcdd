/**
 * Clocks for tests. `ManualClock` is a Clock (shared/clock.ts) whose time moves only when the test calls
 * `advance(ms)`, which runs the timers that fall due, in time order, each at its own due time. `offsetClock` is the
 * system clock shifted by a fixed amount ("the hub comes back two minutes later").
 */
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock';

interface Timer {
  readonly id: number;
  at: number;
  /** Repeat period for `every`, undefined for `after`. */
  readonly period: number | undefined;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;

  constructor(startMs = 1_700_000_000_000) {
    this.wall = startMs;
  }

  now(): number {
    return this.wall;
  }

  monotonicMs(): number {
    return this.mono;
  }

  every(ms: number, fn: () => void): TimerHandle {
    // Node runs setInterval(fn, 0) every 1 ms; a period of 0 would also never let advance() finish.
    const period = Math.max(1, ms);
    return this.add(this.mono + period, period, fn);
  }

  after(ms: number, fn: () => void): TimerHandle {
    return this.add(this.mono + Math.max(0, ms), undefined, fn);
  }

  /** Timers started and not yet cancelled or fired. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves both clocks forward by `ms`, running every timer due on the way (ties in the order they were started). */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (let t = this.nextDue(end); t !== undefined; t = this.nextDue(end)) {
      this.wall += t.at - this.mono;
      this.mono = t.at;
      if (t.period === undefined) this.timers.delete(t.id);
      else t.at += t.period;
      t.fn();
    }
    this.wall += end - this.mono;
    this.mono = end;
  }

  /** `advance(ms)`, then lets the promise callbacks and I/O callbacks the timers started run. */
  async advanceAndSettle(ms: number): Promise<void> {
    this.advance(ms);
    await new Promise((r) => setImmediate(r));
  }

  /** Steps the wall clock only, as NTP does; durations (monotonicMs) and timers are not affected. */
  setWallTime(ms: number): void {
    this.wall = ms;
  }

  private add(at: number, period: number | undefined, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at, period, fn });
    return { cancel: () => void this.timers.delete(id) };
  }

  private nextDue(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers.values()) if (t.at <= end && (best === undefined || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
    return best;
  }
}

/** The system clock, `offsetMs` ahead in wall time (timers and durations are the system's own). */
export function offsetClock(offsetMs: number): Clock {
  return { ...systemClock, now: () => systemClock.now() + offsetMs };
}
