/**
 * One hub among several on one broker and one shared state directory (`--hub-id`, docs/scaling.md "Several hubs").
 *
 * - Presence: every hub's retained `hub/<id>/status` (its last will is `{state: 'offline'}`); the hubs whose latest
 *   status is online, and this one, are the live set.
 * - Ownership: each known site belongs to the live hub that rendezvous hashing picks (hub/shard/rendezvous.ts). Every
 *   hub computes the same answer, so no election; sites are known from the hub's configuration, the shared state
 *   directory, and the retained agent status messages (`+/+/status`, the one subscription over all sites).
 * - Taking a site: its lock first (hub/shard/site-lock.ts; refused while another live hub holds it, whatever the
 *   hashing says), then its sample store and registry entry are opened, then its topics subscribed (samples,
 *   telemetry, its retained model), then the agents' statuses seen so far replayed and its model ensured.
 * - Handing a site over (another hub became its owner, or the lock was lost): its messages are no longer accepted
 *   (no ack: agents resend to the new owner), topics unsubscribed, the batches already accepted made durable, the
 *   registry entry flushed, and only then the lock released. A site with a round running keeps its lock until the
 *   round ends.
 * Reconciling runs every `tickMs` and on every change of the live set, one pass at a time.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../shared/clock';
import type { Logger } from '../../shared/log';
import { decode } from '../../shared/protocol/codec';
import { HubStatusSchema } from '../../shared/protocol/messages';
import { isValidSiteId, parseHubMemberStatus, parseTopic, statusTopic, sub } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { SiteRegistry } from '../sites/site-registry';
import { ownerOf } from './rendezvous';
import type { SiteLocks } from './site-lock';
import type { SiteStores } from './site-stores';

type Handler = (topic: string, payload: Uint8Array) => void | Promise<void>;

export interface ShardDeps {
  readonly hubId: string;
  readonly stateDir: string;
  readonly transport: MqttTransport;
  readonly locks: SiteLocks;
  readonly stores: SiteStores;
  readonly registry: SiteRegistry;
  readonly configuredSites: readonly string[];
  /** Sites first heard of through an agent's status are served too (the hub's `autoAddSites`), up to `maxSites` known. */
  readonly autoAddSites: boolean;
  readonly maxSites: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly tickMs: number;
  /** A round of the site is queued or running: the site is not handed over before it ends. */
  readonly siteBusy: (site: string) => boolean;
  /** The hub's handlers of agent messages (samples, status, telemetry) and of its retained model topics. */
  readonly agentMessage: Handler;
  readonly retainedMessage: Handler;
  /** A site was taken (publish its model, refresh the status) or handed over. */
  readonly onChange: (site: string, taken: boolean) => void;
}

export class Shard {
  /** Hub id → online, from the retained member statuses. */
  private readonly members = new Map<string, boolean>();
  private readonly known = new Set<string>();
  /** Latest retained status payload per site and agent, replayed to the hub when it takes the site. */
  private readonly statuses = new Map<string, Map<string, Uint8Array>>();
  private readonly owned = new Set<string>();
  /** Sites being handed over: no longer accepted, lock still held. */
  private readonly leaving = new Set<string>();
  private timer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly waitingFor = new Map<string, string>();

  constructor(private readonly d: ShardDeps) {
    for (const s of d.configuredSites) this.known.add(s);
    for (const s of sitesOnDisk(d.stateDir)) this.known.add(s);
  }

  /** Subscribes to the member statuses and the agents' statuses, then reconciles every `tickMs`. */
  async start(): Promise<void> {
    const t = this.d.transport;
    await t.subscribe(sub.hubMembers(), (topic, p) => this.onMember(topic, p), 1);
    await t.subscribe(sub.allStatus(), (topic, p) => this.onAgentStatus(topic, p), 1);
    // The broker delivers the retained statuses right after the subscription; the first pass should see them.
    await new Promise((r) => this.d.clock.after(300, () => r(undefined)));
    this.timer = this.d.clock.every(this.d.tickMs, () => this.reconcile());
    this.refreshTimer = this.d.clock.every(this.d.tickMs, () => this.refresh());
    await this.reconcile();
  }

  /** Sites this hub serves now (taken, not being handed over). */
  sites(): string[] {
    return [...this.owned].filter((s) => !this.leaving.has(s)).sort();
  }

  /** Whether a message of `site` may still be handled here (also while it is being handed over). */
  holds(site: string): boolean {
    return this.owned.has(site);
  }

  /** The hubs this one believes live, itself included. */
  liveHubs(): string[] {
    return [this.d.hubId, ...[...this.members].filter(([id, on]) => on && id !== this.d.hubId).map(([id]) => id)].sort();
  }

  /** Stops reconciling and hands every site back (durable, flushed, unlocked). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.refreshTimer?.cancel();
    await this.running;
    for (const site of [...this.owned]) await this.release(site, true);
  }

  /** One pass (or, if one runs, one more after it). Never rejects. */
  reconcile(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass().catch((err: unknown) => this.d.log.error('shard reconcile failed', { error: err }));
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    const live = this.liveHubs();
    for (const site of [...this.owned]) if (ownerOf(site, live) !== this.d.hubId) await this.release(site, false);
    for (const site of [...this.known].sort()) {
      if (this.stopped) return;
      if (!this.owned.has(site) && ownerOf(site, live) === this.d.hubId) await this.take(site);
    }
  }

  private async take(site: string): Promise<void> {
    const got = this.d.locks.tryAcquire(site);
    if (!got.ok) {
      const holder = got.owner?.hub ?? 'unknown';
      if (this.waitingFor.get(site) !== holder) this.d.log.info('waiting for a site\'s lock', { site, holder, pid: got.owner?.pid, host: got.owner?.host });
      this.waitingFor.set(site, holder);
      return;
    }
    this.waitingFor.delete(site);
    try {
      const store = await this.d.stores.attach(site);
      for (const p of await this.d.registry.adopt(site)) this.d.log.warn('site registry entry reset', { site, error: p });
      this.d.registry.setNewWindows(site, store.countSince(site, this.d.registry.lastRedistill(site)?.seqMarker ?? 0));
      this.owned.add(site);
      const t = this.d.transport;
      await Promise.all([
        t.subscribe(sub.siteSamples(site), (topic, p) => this.agent(site, topic, p), 1),
        t.subscribe(sub.siteTelemetry(site), (topic, p) => this.agent(site, topic, p), 0),
        t.subscribe(sub.siteModel(site), (topic, p) => this.retained(site, topic, p), 1),
        t.subscribe(sub.siteModelChunks(site), (topic, p) => this.retained(site, topic, p), 1),
      ]);
      for (const [agent, p] of this.statuses.get(site) ?? []) await this.d.agentMessage(statusTopic(site, agent), p);
    } catch (err) {
      this.d.log.error('cannot take a site; letting it go', { site, error: err });
      await this.release(site, true);
      return;
    }
    this.d.log.info('site taken', { site, hub: this.d.hubId, live: this.liveHubs() });
    this.d.onChange(site, true);
  }

  private async release(site: string, force: boolean): Promise<void> {
    this.leaving.add(site);
    if (!force && this.d.siteBusy(site)) return; // retried at the next pass, once the round ended
    const t = this.d.transport;
    await Promise.all([sub.siteSamples(site), sub.siteTelemetry(site), sub.siteModel(site), sub.siteModelChunks(site)].map((f) => t.unsubscribe(f).catch(() => undefined)));
    await this.d.stores.detach(site).catch((err: unknown) => this.d.log.error('site store did not close cleanly', { site, error: err }));
    await this.d.registry.release(site).catch((err: unknown) => this.d.log.error('site registry not flushed', { site, error: err }));
    this.owned.delete(site);
    this.leaving.delete(site);
    this.d.locks.release(site);
    this.d.log.info('site handed over', { site, hub: this.d.hubId, live: this.liveHubs() });
    this.d.onChange(site, false);
  }

  private refresh(): void {
    for (const site of this.d.locks.held()) {
      let ok = false;
      try {
        ok = this.d.locks.refresh(site);
      } catch (err) {
        this.d.log.error('cannot refresh a site lock', { site, error: err });
      }
      if (!ok && this.owned.has(site)) {
        this.d.log.error('site lock lost; handing the site over', { site });
        void this.release(site, true);
      }
    }
  }

  private agent(site: string, topic: string, payload: Uint8Array): void | Promise<void> {
    // Accepted only while held and not being handed over; anything else gets no ack, so the agent sends it again.
    return this.owned.has(site) && !this.leaving.has(site) ? this.d.agentMessage(topic, payload) : undefined;
  }

  private retained(site: string, topic: string, payload: Uint8Array): void | Promise<void> {
    return this.owned.has(site) && !this.leaving.has(site) ? this.d.retainedMessage(topic, payload) : undefined;
  }

  private onMember(topic: string, payload: Uint8Array): void {
    const id = parseHubMemberStatus(topic);
    if (id === undefined || id === this.d.hubId) return;
    const r = payload.byteLength === 0 ? undefined : decode(HubStatusSchema, payload);
    const online = r?.ok === true && r.value.state === 'online';
    if (this.members.get(id) === online) return;
    this.members.set(id, online);
    this.d.log.info(online ? 'hub joined' : 'hub left', { hub: id, live: this.liveHubs() });
    void this.reconcile();
  }

  private onAgentStatus(topic: string, payload: Uint8Array): void | Promise<void> {
    const t = parseTopic(topic);
    if (t?.kind !== 'status') return undefined;
    let bySite = this.statuses.get(t.site);
    if (bySite === undefined) this.statuses.set(t.site, (bySite = new Map()));
    if (payload.byteLength === 0) bySite.delete(t.agent);
    else bySite.set(t.agent, payload);
    if (!this.known.has(t.site) && this.d.autoAddSites && this.known.size < this.d.maxSites) {
      this.known.add(t.site);
      void this.reconcile();
    }
    return this.agent(t.site, topic, payload);
  }
}

/** Sites with shared state already (a directory under `<stateDir>/sites`). */
function sitesOnDisk(stateDir: string): string[] {
  try {
    return fs.readdirSync(join(stateDir, 'sites'), { withFileTypes: true }).filter((e) => e.isDirectory() && isValidSiteId(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
}
