/**
 * Runs async tasks one at a time, in the order they were queued. Stores use it so that two operations on the same
 * files never interleave (a batch redelivered while its first copy is being written must still be seen as a
 * duplicate; a pointer swap must not race a rollback).
 *
 * A task that throws or rejects fails only its own `run()` promise: the next task starts as usual, so one failed
 * write never blocks the store for good. Tasks must not `run()` and await another task on the same queue (that
 * task would wait behind its caller forever).
 */
export class SerialQueue {
  /** Settles (never rejects) when the last task queued so far has settled. */
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  /** Queues `task`; resolves or rejects with its result once every earlier task has settled and it has run. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(task);
    this.tail = result.then(
      () => this.settled(),
      () => this.settled(),
    );
    return result;
  }

  /** Resolves once every task queued so far has settled (tasks queued later are not waited for). */
  drain(): Promise<void> {
    return this.tail;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.waiting;
  }

  private settled(): void {
    this.waiting--;
  }
}

/** One SerialQueue per key (e.g. per site): tasks of one key run one at a time, different keys run concurrently. */
export class KeyedSerialQueue {
  private readonly queues = new Map<string, SerialQueue>();

  run<T>(key: string, task: () => T | Promise<T>): Promise<T> {
    let q = this.queues.get(key);
    if (q === undefined) this.queues.set(key, (q = new SerialQueue()));
    const result = q.run(task);
    // An idle queue is forgotten, so the map holds only keys with work in flight.
    const forget = (): void => {
      if (q.size === 0 && this.queues.get(key) === q) this.queues.delete(key);
    };
    void q.drain().then(forget);
    return result;
  }

  /** Resolves once every task queued so far, under any key, has settled. */
  async drain(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.drain()));
  }
}
