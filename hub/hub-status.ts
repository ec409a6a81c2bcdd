/** The hub's status payloads: the retained `hub/status` message and the answers to `status` / `sites` commands. */
import type { HubStatus } from '../shared/protocol/messages';
import type { Job } from './jobs/job-queue';
import type { RedistillResult } from './jobs/redistill-job';
import type { SampleStore } from './store/sample-store';
import type { SiteRegistry } from './sites/site-registry';
import { versionNumber } from './models/versioning';

export interface StatusSources {
  readonly hubVersion: string;
  readonly startedAt: number;
  readonly now: number;
  readonly teacherVersion: string | null;
  readonly sites: readonly string[];
  readonly registry: SiteRegistry;
  readonly store: SampleStore;
  readonly activeJobs: readonly Job<RedistillResult>[];
}

type SiteSummary = Extract<HubStatus, { state: 'online' }>['sites'][number];

export function siteSummary(s: Pick<StatusSources, 'registry' | 'store'>, site: string): SiteSummary {
  const info = s.registry.site(site);
  const modelVersion = info?.modelVersion ?? null;
  return {
    site,
    modelVersion,
    agentsOnline: info?.agents.filter((a) => a.state === 'online').length ?? 0,
    windowsStored: s.store.count(site),
    // Version 1 is the generic student; a later version was published by a redistillation round.
    lastRedistillAt: versionNumber(modelVersion ?? undefined) > 1 ? (info?.modelVersionAt ?? null) : null,
  };
}

export function hubStatus(s: StatusSources): HubStatus {
  const running = s.activeJobs.find((j) => j.state === 'running');
  return {
    state: 'online',
    hubVersion: s.hubVersion,
    startedAt: s.startedAt,
    ts: s.now,
    teacherVersion: s.teacherVersion,
    sites: s.sites.slice(0, 10_000).map((site) => siteSummary(s, site)),
    jobs: { running: running?.id ?? null, queued: s.activeJobs.filter((j) => j.state === 'queued').length },
  };
}

/** The `status` command for one site: the summary plus agents, rollout and the last round. */
export function siteDetails(s: Pick<StatusSources, 'registry' | 'store'>, site: string): Record<string, unknown> {
  const info = s.registry.site(site);
  return {
    ...siteSummary(s, site),
    newWindows: s.registry.newWindows(site),
    rollout: info?.rollout ?? { online: 0, onVersion: 0 },
    lastRedistill: info?.lastRedistill ?? null,
    // The newest versions the site had (published, or again by a rollback), oldest first, and the rollout under
    // watch: what an operator picks a `rollback --to` from. Bounded, as `sites` sends this for every site.
    models: s.registry.modelHistory(site).slice(-20),
    watch: s.registry.watch(site) ?? null,
    // Batches set aside as implausible since the hub started (hub/store/sample-hygiene.ts).
    quarantinedBatches: s.store.implausibleBatches(site).length,
    agents: (info?.agents ?? []).map((a) => ({ agent: a.agent, state: a.state, modelVersion: a.modelVersion, agentVersion: a.agentVersion, backend: a.backend, lastSeenAt: a.lastSeenAt })),
  };
}
