/** What hub/hub.ts builds when it is one of several hubs (`hubId`): the per-site state and the running Shard. */
import type { Clock } from '../../shared/clock';
import type { Logger } from '../../shared/log';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { HubConfig } from '../config';
import { SiteRegistry } from '../sites/site-registry';
import type { SampleStore, SampleStoreOptions } from '../store/sample-store';
import { Shard, type ShardDeps } from './shard';
import { SiteLocks } from './site-lock';
import { SiteStores } from './site-stores';
import { siteDir } from './shared-state';

/** How long a site's lock stays valid without a refresh (refreshed every `TICK_MS`): the takeover bound across hosts. */
export const LEASE_MS = 15_000;
/** How often ownership is reconciled and leases refreshed. */
export const TICK_MS = 1_000;

export interface ShardState {
  readonly locks: SiteLocks;
  readonly stores: SiteStores;
  /**
   * `stores` as the hub's parts see it. SiteStores implements every public member of SampleStore (`SampleStoreApi`,
   * checked by the compiler); the parts are typed with the class, whose private members they never reach.
   */
  readonly store: SampleStore;
  readonly registry: SiteRegistry;
}

export function openShardState(c: HubConfig, hubId: string, storeOptions: SampleStoreOptions, now: () => number): ShardState {
  const dirOf = (site: string): string => siteDir(c.stateDir, site);
  const locks = new SiteLocks({ siteDir: dirOf, hubId, leaseMs: LEASE_MS, now });
  const stores = new SiteStores(dirOf, storeOptions);
  const registry = SiteRegistry.perSite((site) => `${dirOf(site)}/registry.json`, { now, staleAfterMs: c.staleAfterSeconds * 1000 });
  return { locks, stores, store: stores as unknown as SampleStore, registry };
}

export async function startShard(
  state: ShardState,
  o: { config: HubConfig; transport: MqttTransport; clock: Clock; log: Logger } & Pick<ShardDeps, 'siteBusy' | 'agentMessage' | 'retainedMessage' | 'onChange'>,
): Promise<Shard> {
  const c = o.config;
  const shard = new Shard({
    hubId: c.hubId as string, stateDir: c.stateDir, transport: o.transport, locks: state.locks, stores: state.stores, registry: state.registry,
    configuredSites: c.sites, autoAddSites: c.autoAddSites, maxSites: c.maxSites, clock: o.clock, log: o.log, tickMs: TICK_MS,
    siteBusy: o.siteBusy, agentMessage: o.agentMessage, retainedMessage: o.retainedMessage, onChange: o.onChange,
  });
  await shard.start();
  return shard;
}
