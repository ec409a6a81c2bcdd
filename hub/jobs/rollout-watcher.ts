/**
 * The hub's rollout watch: after a round publishes version N of a site in place of P, it counts the uniformly sampled
 * windows that agents serving N return; at each look of the plan (hub/jobs/rollout-watch.ts) it gathers the evidence
 * (hub/jobs/rollout-evidence.ts) and decides. A rollback takes the same path as one by hand (hub/jobs/rollback-job.ts)
 * with the figures in its reason; after the last look without evidence the rollout is confirmed. Every decision is
 * logged with its figures, and the watch and its outcome are persisted in the site registry (a restarted hub goes on
 * watching, recounting the windows from the sample store). One look per site at a time.
 *
 * The reference model comes from `referenceFor(site)` (artifact bytes, optionally adapted to the judged windows), so
 * which model judges — the gate's reference, hub/hub-services.ts — is the composition root's choice, not this module's.
 */
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { BackendPreference } from '../../shared/ml/backend';
import { KeyedSerialQueue } from '../../shared/serial-queue';
import type { ModelFiles } from '../models/model-files';
import type { RolloutOutcome, RolloutWatch } from '../sites/model-history';
import type { SiteRegistry } from '../sites/site-registry';
import type { SampleStore } from '../store/sample-store';
import type { MlRunner } from '../worker/ml-runner';
import { countClaimed, gatherEvidence, type Evidence, type Reference } from './rollout-evidence';
import { decideWatch, watchPlan, type WatchDecision, type WatchPlan, type WatchSettings } from './rollout-watch';

export interface WatcherSettings extends WatchSettings {
  readonly enabled: boolean;
  readonly backend: BackendPreference;
  /** Stored windows read at most per look (the round's own bound). */
  readonly maxReadWindows: number;
}

export interface RolloutWatcherDeps {
  readonly store: Pick<SampleStore, 'read' | 'lastSeq'>;
  readonly registry: Pick<SiteRegistry, 'watch' | 'setWatch' | 'watchedSites' | 'modelVersion' | 'modelHistory'>;
  readonly files: Pick<ModelFiles, 'load'>;
  /** The reference model's artifact for a site. */
  readonly referenceFor: (site: string) => Promise<Reference>;
  /** Named in the reasons, e.g. `teacher`. */
  readonly referenceName: string;
  readonly run: MlRunner;
  /**
   * Rolls the site back to `to` (trigger `evidence`), refused when the site no longer serves `onlyFrom`; the rollback
   * ends the watch through `rolledBack`.
   */
  readonly rollback: (site: string, req: { readonly to: string; readonly onlyFrom: string; readonly reason: string }) => Promise<unknown>;
  readonly settings: WatcherSettings;
  readonly now: () => number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

export class RolloutWatcher {
  readonly plan: WatchPlan;
  /** Uniform windows returned by agents claiming the watched version, per site (recounted from the store at start). */
  private readonly claimed = new Map<string, number>();
  /** Sites with a look queued or running. */
  private readonly looking = new Set<string>();
  private readonly queue = new KeyedSerialQueue();

  constructor(private readonly d: RolloutWatcherDeps) {
    this.plan = watchPlan(d.settings);
  }

  /**
   * A round published `version` (judged against `judgedAgainst`): watch it against the version it replaced, which the
   * site's model history names (a rollback by hand during the round may have changed it). A watch of an older version
   * is superseded.
   */
  async started(site: string, version: string, judgedAgainst: string | undefined): Promise<void> {
    const history = this.d.registry.modelHistory(site);
    const at = history.map((r) => r.version).lastIndexOf(version);
    const previous = at > 0 ? (history[at - 1]?.version as string) : judgedAgainst;
    if (!this.d.settings.enabled || previous === undefined || previous === version) return;
    await this.queue.run(site, async () => {
      const old = this.d.registry.watch(site);
      if (old !== undefined) await this.end(site, old, 'superseded', `${version} was published`);
      const w: RolloutWatch = { version, previous, sinceSeq: this.d.store.lastSeq(site), startedAt: this.d.now(), looks: 0 };
      await this.d.registry.setWatch(site, w, { version, outcome: 'watching' });
      this.claimed.set(site, 0);
      this.d.log.info('rollout watch started', { site, version, previous, looksAt: this.plan.thresholds.join(','), perLookConfidence: this.plan.perLookConfidence });
    });
  }

  /** A batch was stored: count its uniform windows if it came from the watched version. Never rejects. */
  samplesStored(site: string, batch: { readonly modelVersion: string; readonly uniform: number }): void {
    const w = this.d.registry.watch(site);
    if (w === undefined || batch.modelVersion !== w.version || batch.uniform === 0) return;
    this.claimed.set(site, (this.claimed.get(site) ?? 0) + batch.uniform);
    this.lookIfDue(site);
  }

  /** After a restart: recount every watched site's windows, and look where a look is due. */
  resume(): void {
    if (!this.d.settings.enabled) return; // switched off since: the watches stay as they are, unjudged
    for (const site of this.d.registry.watchedSites()) {
      void this.queue
        .run(site, async () => {
          const w = this.d.registry.watch(site);
          if (w !== undefined) this.claimed.set(site, await countClaimed(this.d.store, site, w, this.d.settings.maxReadWindows));
        })
        .then(() => this.lookIfDue(site))
        .catch((err: unknown) => this.d.log.error('cannot resume a rollout watch', { site, error: err }));
    }
  }

  /** A rollback (by hand or on evidence) replaced `from`: its watch ends. */
  async rolledBack(site: string, from: string): Promise<void> {
    const w = this.d.registry.watch(site);
    if (w !== undefined && w.version === from) await this.end(site, w, 'rolled-back', 'rolled back');
  }

  /** Resolves when no look is running or queued. */
  async settle(): Promise<void> {
    await this.queue.drain();
  }

  private lookIfDue(site: string): void {
    const w = this.d.registry.watch(site);
    const due = w === undefined ? undefined : this.plan.thresholds[w.looks];
    if (!this.d.settings.enabled || due === undefined || (this.claimed.get(site) ?? 0) < due || this.looking.has(site) || this.d.signal?.aborted === true) return;
    this.looking.add(site);
    void this.queue
      .run(site, () => this.look(site))
      .catch((err: unknown) => this.d.log.error('rollout watch failed', { site, error: err }))
      .finally(() => {
        this.looking.delete(site);
        this.lookIfDue(site);
      });
  }

  private async look(site: string): Promise<void> {
    const w = this.d.registry.watch(site);
    if (w === undefined || this.plan.thresholds[w.looks] === undefined) return;
    if (this.d.registry.modelVersion(site) !== w.version) return this.end(site, w, 'superseded', `the site serves ${this.d.registry.modelVersion(site) ?? 'nothing'} now`);
    let ev: Evidence;
    try {
      ev = await gatherEvidence({ ...this.d, backend: this.d.settings.backend, budget: this.d.settings.windowBudget, maxReadWindows: this.d.settings.maxReadWindows }, site, w);
    } catch (err) {
      if (isSitekdError(err, ErrorCode.JOB_REJECTED)) return; // the hub is stopping: the next start looks again
      return this.end(site, w, 'inconclusive', `no evidence could be gathered: ${err instanceof Error ? err.message : String(err)}`);
    }
    const final = w.looks + 1 >= this.plan.thresholds.length;
    const decision = decideWatch({
      counts: ev.counts, plan: this.plan, margin: this.d.settings.margin, final, previous: w.previous, rolledOut: w.version, reference: this.d.referenceName,
    });
    const reason = `${decision.reason}; ${describeEvidence(ev, w)}`;
    this.d.log.info('rollout watch decision', { site, version: w.version, previous: w.previous, look: w.looks + 1, of: this.plan.thresholds.length, verdict: decision.verdict, ...figures(ev, decision), reason });
    await this.act(site, w, decision, reason);
  }

  private async act(site: string, w: RolloutWatch, decision: WatchDecision, reason: string): Promise<void> {
    // A rollback by hand (or a new round) may have ended this watch while the worker ran: then nothing is left to do.
    const now = this.d.registry.watch(site);
    if (now?.version !== w.version || now.startedAt !== w.startedAt) return;
    switch (decision.verdict) {
      case 'rollback':
        await this.d.registry.setWatch(site, { ...w, looks: w.looks + 1 });
        try {
          await this.d.rollback(site, { to: w.previous, onlyFrom: w.version, reason: `on evidence: ${reason}` });
        } catch (err) {
          await this.end(site, w, 'inconclusive', `the rollback failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        return;
      case 'confirm':
        return this.end(site, w, 'confirmed', reason);
      case 'inconclusive':
        return this.end(site, w, 'inconclusive', reason);
      case 'wait':
      case 'keep':
        return this.d.registry.setWatch(site, { ...w, looks: w.looks + 1 });
    }
  }

  private async end(site: string, w: RolloutWatch, outcome: RolloutOutcome, why: string): Promise<void> {
    await this.d.registry.setWatch(site, undefined, { version: w.version, outcome });
    this.claimed.delete(site);
    this.d.log.info('rollout watch ended', { site, version: w.version, outcome, why });
  }
}

function describeEvidence(ev: Evidence, w: RolloutWatch): string {
  const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
  const excluded = ev.excludedWindows > 0 ? `; ${ev.excludedWindows} windows left out, their logits are not ${w.version}'s (agents ${ev.excludedAgents.join(', ') || 'none'})` : '';
  return `mean confidence ${w.version} ${pct(ev.servingConfidence)} vs ${w.previous} before ${pct(ev.previousConfidence)}; class-mix shift (total variation) ${ev.classMixShift === null ? 'n/a' : ev.classMixShift.toFixed(3)}${excluded}`;
}

function figures(ev: Evidence, decision: WatchDecision): Record<string, unknown> {
  const c = ev.counts;
  return {
    judged: c.n, claimed: ev.claimed, previousOnly: c.candidateOnly, rolledOutOnly: c.currentOnly, pValue: decision.test?.pValue,
    servingConfidence: ev.servingConfidence, previousConfidence: ev.previousConfidence, classMixShift: ev.classMixShift, excludedAgents: ev.excludedAgents,
  };
}
