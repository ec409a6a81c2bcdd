/**
 * The simulator's publishes still waiting for the transport: counted (back-pressure caps them), their failures handed
 * to one error listener, and awaited on stop.
 */
import { withTimeout, type Clock } from '../shared/clock';

export class PublishTracker {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Publishes not settled yet. */
  get size(): number {
    return this.pending.size;
  }

  track(p: Promise<void>): void {
    const tracked = p.then(
      () => undefined,
      (err: unknown) => {
        try {
          this.onError(err);
        } catch {
          // An error listener must not break the stream.
        }
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** Waits for pending publishes, at most `timeoutMs` (a publish cut by a lost connection may never settle). */
  async settle(timeoutMs = 3000): Promise<void> {
    const drained = (async (): Promise<void> => {
      while (this.pending.size > 0) await Promise.all([...this.pending]);
    })();
    await withTimeout(this.clock, drained, timeoutMs);
  }
}
