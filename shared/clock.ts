/**
 * Time as a dependency (docs/conventions.md §6.9): components read `clock.now()` and start timers through the clock,
 * never `Date.now()` / `setInterval` directly, so tests can drive them. `monotonicMs` measures durations (latency),
 * which wall-clock steps (NTP) must not distort.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (timestamps on the wire). */
  now(): number;
  /** A monotonic millisecond counter for durations. */
  monotonicMs(): number;
  /** Calls `fn` every `ms` until cancelled; the timer never keeps the process alive on its own. */
  every(ms: number, fn: () => void): TimerHandle;
  /** Calls `fn` once after `ms`; never keeps the process alive on its own. */
  after(ms: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Settles like `p`, or resolves `'timeout'` if `ms` pass on `clock` first. For shutdown deadlines: a publish waiting
 * for a PUBACK from a broker that is gone may never settle. The timer is cancelled as soon as `p` settles, and a
 * late rejection of `p` is handled here, never left unhandled.
 */
export function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: TimerHandle | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = clock.after(ms, () => resolve('timeout'));
  });
  return Promise.race([p, timedOut]).finally(() => timer?.cancel());
}
