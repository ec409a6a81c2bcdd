/**
 * What the operator's view (`/metrics`, `sitekd status`) needs beyond the site registry: each agent's latest
 * telemetry (the registry keeps only liveness), and per site the rounds by outcome, the last round with its gate
 * figures and how many rounds in a row failed. Memory only: after a restart the figures start again from the next
 * telemetry and the next round (the registry's persisted `lastRedistill` still says how the last round ended).
 *
 * Bounded: telemetry is kept only for sites the hub serves (the caller checks), at most MAX_AGENTS_PER_SITE agents
 * per site, the newest replacing the oldest.
 */
import type { Telemetry } from '../../shared/protocol/messages';
import type { Job } from '../jobs/job-queue';
import type { RedistillResult } from '../jobs/redistill-job';

export const MAX_AGENTS_PER_SITE = 1000;

export type RoundOutcome = 'published' | 'rejected' | 'skipped' | 'failed';
export const ROUND_OUTCOMES: readonly RoundOutcome[] = ['published', 'rejected', 'skipped', 'failed'];

export interface AgentTelemetry {
  readonly at: number;
  readonly telemetry: Telemetry;
}

export interface RoundSummary {
  readonly jobId: string;
  readonly outcome: RoundOutcome;
  readonly trigger: string;
  readonly finishedAt: number;
  readonly seconds: number | null;
  readonly version: string | null;
  readonly candidateAgreement: number | null;
  readonly currentAgreement: number | null;
  readonly windows: number | null;
  readonly heldOut: number | null;
  readonly reasons: readonly string[];
  readonly error: { readonly code: string; readonly message: string } | null;
}

interface SiteRounds {
  readonly byOutcome: Record<RoundOutcome, number>;
  failedInARow: number;
  last: RoundSummary | undefined;
}

export class FleetView {
  private readonly telemetry = new Map<string, Map<string, AgentTelemetry>>();
  private readonly rounds = new Map<string, SiteRounds>();
  /** Called with each finished round (the metrics' counter and histogram). */
  private readonly listeners = new Set<(site: string, r: RoundSummary) => void>();

  recordTelemetry(site: string, agent: string, telemetry: Telemetry, at: number): void {
    let bySite = this.telemetry.get(site);
    if (bySite === undefined) this.telemetry.set(site, (bySite = new Map()));
    bySite.delete(agent); // re-inserted last: the map's order is oldest-updated first
    bySite.set(agent, { at, telemetry });
    if (bySite.size > MAX_AGENTS_PER_SITE) bySite.delete(bySite.keys().next().value as string);
  }

  agentTelemetry(site: string, agent: string): AgentTelemetry | undefined {
    return this.telemetry.get(site)?.get(agent);
  }

  /** Agents of a site with telemetry, by name. */
  telemetryAgents(site: string): string[] {
    return [...(this.telemetry.get(site)?.keys() ?? [])].sort();
  }

  /** A job of the redistill queue ended (done, failed or skipped). Other states are ignored. */
  recordRound(job: Job<RedistillResult>): RoundSummary | undefined {
    const outcome = roundOutcome(job);
    if (outcome === undefined) return undefined;
    const r = job.result;
    const finishedAt = job.finishedAt ?? job.queuedAt;
    const summary: RoundSummary = {
      jobId: job.id, outcome, trigger: job.trigger, finishedAt,
      seconds: job.startedAt !== undefined ? Math.max(0, finishedAt - job.startedAt) / 1000 : null,
      version: r?.outcome === 'published' ? (r.version ?? null) : null,
      candidateAgreement: r?.candidateAgreement ?? null, currentAgreement: r?.currentAgreement ?? null,
      windows: r?.windows ?? null, heldOut: r?.heldOut ?? null,
      reasons: r?.reasons ?? (job.skipReason !== undefined ? [job.skipReason] : []),
      error: job.error !== undefined ? { code: job.error.code, message: job.error.message } : null,
    };
    const s = this.siteRounds(job.site);
    s.byOutcome[outcome]++;
    // A skipped round (too few new windows) says nothing about whether rounds work: it neither breaks nor extends a run.
    if (outcome === 'failed') s.failedInARow++;
    else if (outcome !== 'skipped') s.failedInARow = 0;
    s.last = summary;
    for (const l of this.listeners) l(job.site, summary);
    return summary;
  }

  onRound(listener: (site: string, r: RoundSummary) => void): void {
    this.listeners.add(listener);
  }

  roundsByOutcome(site: string): Readonly<Record<RoundOutcome, number>> {
    return this.siteRounds(site).byOutcome;
  }

  failedInARow(site: string): number {
    return this.rounds.get(site)?.failedInARow ?? 0;
  }

  lastRound(site: string): RoundSummary | undefined {
    return this.rounds.get(site)?.last;
  }

  private siteRounds(site: string): SiteRounds {
    let s = this.rounds.get(site);
    if (s === undefined) this.rounds.set(site, (s = { byOutcome: { published: 0, rejected: 0, skipped: 0, failed: 0 }, failedInARow: 0, last: undefined }));
    return s;
  }
}

function roundOutcome(job: Job<RedistillResult>): RoundOutcome | undefined {
  if (job.state === 'failed') return 'failed';
  if (job.state === 'skipped') return 'skipped';
  if (job.state === 'done') return job.result?.outcome ?? 'published';
  return undefined;
}
