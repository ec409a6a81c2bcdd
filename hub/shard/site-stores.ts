/**
 * The sample store of a hub that shares its state directory with other hubs: one SampleStore per site it holds, each
 * in `<stateDir>/sites/<site>/samples` with its own seen-ids log, so a site's windows and the ids of its batches
 * (dedupe) move with the site from hub to hub and no hub ever opens another's files. It answers everything the hub's
 * parts ask of a SampleStore by routing on the site; a site not held reads as empty, and a batch for it is refused with
 * SITE_NOT_OWNED (not acked, so the agent sends it again, to the site's owner).
 *
 * Limit: `maxStoreBytes` bounds each site's store, not their sum (each hub only sees the sites it holds).
 */
import { join } from 'node:path';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { DurableWriter } from '../store/durable-writer';
import { SampleStore, type AddResult, type ReadOptions, type RoundSplit, type SampleBatch, type SampleSet, type SampleStoreOptions } from '../store/sample-store';
import type { ImplausibleRecord } from '../store/sample-quarantine';

/** Every public member of SampleStore: what the hub's parts may call (the compiler checks SiteStores has them all). */
export type SampleStoreApi = Pick<SampleStore, keyof SampleStore>;

type QuarantineRecord = ReturnType<SampleStore['quarantined']>[number];
type Stats = ReturnType<SampleStore['stats']>;

export class SiteStores implements SampleStoreApi {
  private readonly open = new Map<string, SampleStore>();
  /** One durable-write thread for every site's store. */
  private readonly writer = new DurableWriter();
  /** Counters of sites handed over, so the hub's totals do not go backwards. */
  private readonly gone = { evictedSegments: 0, compactedPacks: 0, quarantined: [] as QuarantineRecord[] };

  constructor(
    private readonly siteDir: (site: string) => string,
    private readonly options: SampleStoreOptions,
  ) {}

  /** Opens the site's store (the caller holds the site's lock). */
  async attach(site: string): Promise<SampleStore> {
    const existing = this.open.get(site);
    if (existing !== undefined) return existing;
    const store = await SampleStore.open(join(this.siteDir(site), 'samples'), this.options, this.writer);
    this.open.set(site, store);
    return store;
  }

  /** Waits until every batch handed to the site's store is durable (or failed), then forgets the store. */
  async detach(site: string): Promise<void> {
    const store = this.open.get(site);
    if (store === undefined) return;
    this.open.delete(site);
    await store.close();
    const { evictedSegments, compactedPacks } = store.stats();
    this.gone.evictedSegments += evictedSegments;
    this.gone.compactedPacks += compactedPacks;
    this.gone.quarantined.push(...store.quarantined());
  }

  addBatch(site: string, batch: SampleBatch): Promise<AddResult> {
    const store = this.open.get(site);
    if (store === undefined) return Promise.reject(new SitekdError(ErrorCode.SITE_NOT_OWNED, `this hub does not hold site ${site} (handed over)`, { details: { site } }));
    return store.addBatch(site, batch);
  }

  get backlog(): number {
    let n = 0;
    for (const s of this.open.values()) n += s.backlog;
    return n;
  }

  sites(): string[] {
    return [...this.open.values()].flatMap((s) => s.sites()).sort();
  }

  count(site: string): number {
    return this.open.get(site)?.count(site) ?? 0;
  }

  lastSeq(site: string): number {
    return this.open.get(site)?.lastSeq(site) ?? 0;
  }

  countSince(site: string, marker: number): number {
    return this.open.get(site)?.countSince(site, marker) ?? 0;
  }

  async read(site: string, options: ReadOptions = {}): Promise<SampleSet> {
    return await this.held(site).read(site, options);
  }

  async split(site: string, holdoutFraction: number, options: ReadOptions & { readonly by?: 'batch' | 'window' } = {}): Promise<RoundSplit> {
    return await this.held(site).split(site, holdoutFraction, options);
  }

  stats(): Stats {
    const total: Stats = {
      sites: 0, segments: 0, windows: 0, bytes: 0, diskBytes: 0, evictedSegments: this.gone.evictedSegments, compactedPacks: this.gone.compactedPacks,
      quarantined: this.gone.quarantined.length, implausible: 0,
    };
    for (const s of this.open.values()) {
      const x = s.stats();
      for (const k of Object.keys(total) as (keyof Stats)[]) total[k] += x[k];
    }
    return total;
  }

  implausibleBatches(site?: string): readonly ImplausibleRecord[] {
    return [...this.open.values()].flatMap((s) => s.implausibleBatches(site));
  }

  quarantined(): readonly QuarantineRecord[] {
    return [...this.gone.quarantined, ...[...this.open.values()].flatMap((s) => s.quarantined())];
  }

  async close(): Promise<void> {
    await Promise.all([...this.open.keys()].map((site) => this.detach(site)));
    await this.writer.close();
  }

  /** The site's store; reading a site the hub does not hold is a caller's mistake (a round of a site handed over). */
  private held(site: string): SampleStore {
    const store = this.open.get(site);
    if (store === undefined) throw new SitekdError(ErrorCode.SITE_NOT_OWNED, `this hub does not hold site ${site}`, { details: { site } });
    return store;
  }
}
