/**
 * When the hub queues a redistillation round (besides an operator's command): at each slot of the node-cron schedule,
 * at start for a slot missed while the hub was down (node-cron has no catch-up, docs/ecosystem.md §4.2), and once a
 * site has returned `minNewWindows` new windows. The rule itself is `shouldRedistill` (hub/jobs/scheduler.ts); automatic
 * triggers respect the cooldown and retry when it ends.
 */
import type { Clock, TimerHandle } from '../../shared/clock';
import type { HubConfig } from '../config';
import type { JobTrigger } from './job-events';
import type { Logger } from '../../shared/log';
import { CronScheduler, shouldRedistill } from './scheduler';
import type { SiteRegistry } from '../sites/site-registry';

export interface TriggerDeps {
  readonly config: Pick<HubConfig, 'schedule' | 'minNewWindows' | 'cooldownMinutes'>;
  readonly registry: Pick<SiteRegistry, 'newWindows' | 'addNewWindows' | 'lastRedistill'>;
  readonly sites: () => readonly string[];
  readonly enqueue: (site: string, trigger: JobTrigger) => void;
  /** Reads the time for the trigger rule and runs the cooldown retries (the cron slots are node-cron's own). */
  readonly clock: Clock;
  readonly log: Logger;
}

export class Triggers {
  private scheduler: CronScheduler | undefined;
  private readonly retryTimers = new Map<string, TimerHandle>();
  private stopped = false;

  constructor(private readonly d: TriggerDeps) {}

  /** Starts the schedule (if any) and queues the rounds of slots missed while the hub was down. */
  start(): void {
    const expression = this.d.config.schedule;
    if (expression === null) return;
    this.scheduler = new CronScheduler({
      expression, name: 'sitekd-redistill',
      onTick: () => {
        for (const site of this.d.sites()) this.consider(site, 'schedule');
      },
      onError: (err) => this.d.log.error('schedule tick failed', { error: err }),
    });
    this.scheduler.start();
    for (const site of this.d.sites()) {
      if (this.scheduler.missedRun(this.d.registry.lastRedistill(site)?.at ?? null, this.d.clock.now())) this.consider(site, 'startup');
    }
    this.d.log.info('redistill schedule', { expression, next: this.scheduler.next()?.toISOString() });
  }

  stop(): void {
    this.stopped = true;
    this.scheduler?.destroy();
    for (const t of this.retryTimers.values()) t.cancel();
    this.retryTimers.clear();
  }

  /** A batch added `n` new windows to `site`. */
  samplesStored(site: string, n: number): void {
    this.d.registry.addNewWindows(site, n);
    if (this.d.config.minNewWindows > 0) this.consider(site, 'samples');
  }

  /** Applies the trigger rule and queues a round when it says so. */
  consider(site: string, trigger: Exclude<JobTrigger, 'command'>): void {
    if (this.stopped) return;
    const automatic = trigger === 'samples';
    const c = this.d.config;
    const d = shouldRedistill({
      site, trigger: automatic ? 'threshold' : 'schedule', newWindows: this.d.registry.newWindows(site),
      // A scheduled round on exactly the data of the last one cannot do better: it needs at least one new window.
      minNewWindows: automatic ? c.minNewWindows : Math.max(1, c.minNewWindows),
      lastRunAt: this.d.registry.lastRedistill(site)?.at ?? null, now: this.d.clock.now(),
      // The schedule spaces its own rounds; the cooldown keeps a chatty site from monopolising the queue.
      cooldownMs: automatic ? c.cooldownMinutes * 60_000 : 0,
    });
    if (d.run) this.d.enqueue(site, trigger);
    else if (d.reason === 'cooldown' && !this.retryTimers.has(site)) {
      const timer = this.d.clock.after(d.retryInMs + 1000, () => {
        this.retryTimers.delete(site);
        this.consider(site, trigger);
      });
      this.retryTimers.set(site, timer);
    }
  }
}
