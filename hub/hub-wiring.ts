/**
 * How the hub's pieces are connected once it holds its I/O objects (hub/hub.ts): the sample store's options, the
 * operator's view (hub/ops/), the message handlers and job queue (hub/hub-services.ts) and, with several hubs, the
 * shard (hub/shard/). Kept apart from hub/hub.ts, which owns the lifecycle (what starts and stops in which order);
 * this module only says who calls whom, through the narrow `WiringHost` view of the hub.
 */
import type { Logger } from '../shared/log';
import type { Domain } from '../shared/ml/types';
import type { HubStatus } from '../shared/protocol/messages';
import type { HubConfig } from './config';
import { wireHub, type HubContext, type HubServices } from './hub-services';
import type { InputLayout } from './models/teacher';
import { HubOps } from './ops/hub-ops';
import type { Readiness } from './ops/http-server';
import { startShard, type ShardState } from './shard/hub-shard';
import type { Shard } from './shard/shard';
import { channelRanges } from './store/sample-hygiene';
import type { ImplausibleRecord, SampleStoreOptions } from './store/sample-store';
import type { MlWorkerPool } from './worker/ml-pool';

/** What the wiring needs of the hub: its I/O objects (set by start-up before wiring) and its live answers. */
export interface WiringHost extends Omit<HubContext, 'statusReply' | 'siteExtras'> {
  readonly pool: MlWorkerPool | undefined;
  readonly input: InputLayout;
  readonly source: Domain;
  readiness(): Readiness;
  statusPayload(): HubStatus;
  stats(): Record<string, unknown>;
  /** The services, once wired (the ops' ingest figure asks for them later). */
  services(): HubServices | undefined;
}

/** The sample store's options: retention from the config, plausibility from the source data's channel ranges. */
export function sampleStoreOptions(c: HubConfig, source: Domain, now: () => number, log: Logger): SampleStoreOptions {
  const train = source.train;
  return {
    now, maxWindowsPerSite: c.maxWindowsPerSite, maxBytesTotal: c.maxStoreBytes,
    hygiene: { source: channelRanges(train.x, train.n, train.channels, train.length) },
    onImplausible: (r: ImplausibleRecord) => log.warn('sample batch quarantined', { site: r.site, batchId: r.batchId, agent: r.agent, code: r.code, reason: r.reason, file: r.file }),
  };
}

/** Telemetry, rounds, metrics and the HTTP server (hub/ops/); made before the services, which answer with its alerts. */
export function makeOps(h: WiringHost): HubOps {
  return new HubOps({
    config: h.config, log: h.log, now: h.now, registry: h.registry, store: h.store,
    sites: () => h.servedSites(), classNames: () => h.input.classNames, readiness: () => h.readiness(), alive: () => h.state() !== 'stopping' && h.state() !== 'stopped',
    ingestBusy: () => h.services()?.inbound.stats.busy, workerPool: () => h.pool?.stats(),
  });
}

/** The message handlers, triggers, job queue and site models, and the ops attached to them. */
export function wireServices(h: WiringHost, ops: HubOps): HubServices {
  const services = wireHub({
    ...h,
    statusReply: () => ({ ...h.statusPayload(), stats: h.stats(), alerts: ops.alerts() }),
    siteExtras: (site) => ops.siteExtras(site),
  });
  ops.attach(h.transport, services.queue, {
    snapshot: () => ({ hub: { ...h.statusPayload(), alerts: ops.alerts() }, sites: services.sitesReply() }),
    redistill: (site) => services.redistill(site),
  });
  return services;
}

/** One of several hubs: takes its sites and routes their messages to the services (hub/shard/hub-shard.ts). */
export function startHubShard(state: ShardState, services: HubServices, h: WiringHost): Promise<Shard> {
  return startShard(state, {
    config: h.config, transport: h.transport, clock: h.clock, log: h.log,
    siteBusy: (site) => services.queue.active().some((j) => j.site === site),
    agentMessage: (topic, p) => services.inbound.handle(topic, p),
    retainedMessage: (topic, p) => services.retained.handle(topic, p),
    onChange: (site, taken) => {
      if (taken) void services.models.ensure(site);
      h.scheduleStatus();
    },
  });
}
