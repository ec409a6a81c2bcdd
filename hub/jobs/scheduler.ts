/**
 * When to redistill. Two parts, kept apart so each is testable without waiting:
 *  - `CronScheduler`: node-cron 4 behind the small `Scheduler` interface. It only says "a slot arrived"; the hub
 *    then asks `shouldRedistill` for each site and enqueues jobs (hub/jobs/job-queue.ts coalesces per site).
 *  - `shouldRedistill`: the pure trigger rule (minimum of new windows, cooldown, on-demand override).
 *
 * Schedules are always read in UTC: a fixed interval then never runs twice or not at all on a DST change
 * (docs/ecosystem.md §4.2). node-cron has no catch-up across restarts, so `missedRun(lastRunAt, now)` tells the hub
 * at startup whether a slot passed while it was down; it is computed from the expression, not from timers.
 */
import cron from 'node-cron';
import type { Logger as CronLogger, ScheduledTask } from 'node-cron';
import { ErrorCode, SitekdError } from '../../shared/errors';

export interface Scheduler {
  start(): void;
  stop(): void;
  /** The next slot while started, else null. */
  next(): Date | null;
}

export interface CronSchedulerOptions {
  /** Five fields (minute hour day-of-month month day-of-week) or six with leading seconds, in UTC. */
  readonly expression: string;
  /** Called at every slot. node-cron skips a slot while the previous call is still running (noOverlap). */
  readonly onTick: () => void | Promise<void>;
  /** Errors thrown by onTick land here instead of node-cron's console logger. */
  readonly onError?: (err: unknown) => void;
  readonly name?: string;
  /** Where node-cron's own messages go (missed or blocked slots); its default is the console. */
  readonly logger?: CronLogger;
}

const DAY_MS = 86_400_000;
/** How far back `previousRun` looks: four years and a day covers a slot only on February 29. */
const MAX_LOOKBACK_DAYS = 4 * 366 + 1;

/** Throws `SCHEDULE_INVALID` with the offending field when node-cron rejects the expression. */
export function validateSchedule(expression: string): void {
  if (typeof expression === 'string' && cron.validate(expression)) return;
  const errors = typeof expression === 'string' ? cron.validateDetailed(expression).errors : [];
  const why = errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'expected 5 or 6 space-separated fields';
  throw new SitekdError(ErrorCode.SCHEDULE_INVALID, `invalid cron schedule ${JSON.stringify(expression)} (${why})`, {
    details: { expression, errors },
  });
}

export class CronScheduler implements Scheduler {
  private readonly task: ScheduledTask;
  private readonly fields: { readonly hours: number[]; readonly minutes: number[]; readonly seconds: number[] };

  /** Validates the expression (`SCHEDULE_INVALID`) and creates a stopped task. */
  constructor(private readonly opts: CronSchedulerOptions) {
    validateSchedule(opts.expression);
    const parsed = cron.parse(opts.expression);
    const asc = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
    this.fields = { hours: asc(parsed.hour), minutes: asc(parsed.minute), seconds: asc(parsed.second) };
    this.task = cron.createTask(opts.expression, () => this.tick(), {
      timezone: 'UTC',
      noOverlap: true,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
  }

  start(): void {
    void this.task.start();
  }

  stop(): void {
    void this.task.stop();
  }

  next(): Date | null {
    return this.task.getNextRun();
  }

  /** Runs the tick now, outside the schedule (for tests and manual triggers); resolves when it finished. */
  runNow(): Promise<void> {
    return this.tick();
  }

  /** Stops for good and removes the task from node-cron's global registry. */
  destroy(): void {
    void this.task.destroy();
  }

  /** The latest slot at or before `nowMs`, looking back about four years; null if there is none. */
  previousRun(nowMs: number): Date | null {
    const { hours, minutes, seconds } = this.fields;
    const firstOfDaySec = (hours[0] ?? 0) * 3600 + (minutes[0] ?? 0) * 60 + (seconds[0] ?? 0);
    const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
    for (let d = 0; d <= MAX_LOOKBACK_DAYS; d++) {
      const dayStart = today - d * DAY_MS;
      // The day's first possible slot matches iff the day fields (day of month, month, weekday, L/W/#) do.
      if (!this.task.match(new Date(dayStart + firstOfDaySec * 1000))) continue;
      const limitSec = d === 0 ? Math.floor((nowMs - dayStart) / 1000) : Number.POSITIVE_INFINITY;
      const sec = latestTimeOfDay(hours, minutes, seconds, limitSec);
      if (sec !== null) return new Date(dayStart + sec * 1000);
    }
    return null;
  }

  /**
   * Whether a slot passed after `lastRunAt` (ms) and at or before `nowMs`, i.e. a run node-cron would have made
   * while the hub was down. A site never redistilled (`null`) counts as having missed the latest slot.
   */
  missedRun(lastRunAt: number | null, nowMs: number): boolean {
    const prev = this.previousRun(nowMs);
    return prev !== null && (lastRunAt === null || prev.getTime() > lastRunAt);
  }

  private async tick(): Promise<void> {
    try {
      await this.opts.onTick();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}

/** The largest h·3600 + m·60 + s ≤ limitSec from the ascending lists, or null. */
function latestTimeOfDay(hours: readonly number[], minutes: readonly number[], seconds: readonly number[], limitSec: number): number | null {
  for (let hi = hours.length - 1; hi >= 0; hi--) {
    const h = (hours[hi] as number) * 3600;
    for (let mi = minutes.length - 1; mi >= 0 && h <= limitSec; mi--) {
      const hm = h + (minutes[mi] as number) * 60;
      for (let si = seconds.length - 1; si >= 0 && hm <= limitSec; si--) {
        const t = hm + (seconds[si] as number);
        if (t <= limitSec) return t;
      }
    }
  }
  return null;
}

export type RedistillTrigger = 'schedule' | 'threshold' | 'demand';

export interface RedistillCheck {
  readonly site: string;
  /** What asks: a cron slot, a stored batch (threshold), or an operator. Default `threshold`. */
  readonly trigger?: RedistillTrigger;
  /** Windows stored for the site since its last redistillation. */
  readonly newWindows: number;
  readonly minNewWindows: number;
  /** Start of the last redistillation (ms), null if never. */
  readonly lastRunAt: number | null;
  readonly now: number;
  /** Minimum time between two automatic rounds of one site. */
  readonly cooldownMs: number;
}

export type RedistillDecision =
  | { readonly run: true; readonly site: string; readonly reason: 'on-demand' | 'scheduled' | 'enough-new-windows' }
  | { readonly run: false; readonly site: string; readonly reason: 'too-few-new-windows'; readonly missingWindows: number }
  | { readonly run: false; readonly site: string; readonly reason: 'cooldown'; readonly retryInMs: number };

/**
 * The trigger rule. An operator's request always runs (they asked; the job itself reports too few samples). A cron
 * slot or a stored batch runs only with at least `minNewWindows` new windows (a round on almost the same data
 * cannot do better) and not within `cooldownMs` of the last round (a chatty site must not monopolise the queue).
 */
export function shouldRedistill(c: RedistillCheck): RedistillDecision {
  const trigger = c.trigger ?? 'threshold';
  if (trigger === 'demand') return { run: true, site: c.site, reason: 'on-demand' };
  if (c.newWindows < c.minNewWindows) {
    return { run: false, site: c.site, reason: 'too-few-new-windows', missingWindows: c.minNewWindows - c.newWindows };
  }
  if (c.lastRunAt !== null && c.now - c.lastRunAt < c.cooldownMs) {
    return { run: false, site: c.site, reason: 'cooldown', retryInMs: c.lastRunAt + c.cooldownMs - c.now };
  }
  return { run: true, site: c.site, reason: trigger === 'schedule' ? 'scheduled' : 'enough-new-windows' };
}
