/**
 * The hub's durable store of target windows + student logits returned by agents, per site.
 *
 * Layout under `dir`: `seen-ids.log` (hub/store/seen-ids.ts), `sites/<site, percent-encoded>/meta.json` (the site's
 * shape, fixed by its first batch) and `packs/`: one pack file per group commit holding each batch of the group as a
 * segment (hub/store/sample-packs.ts, sample-segment.ts), written atomically. Stores written before packs hold one
 * segment file per batch, `sites/<site>/<first seq, 12 digits>.seg`; those are still read, evicted and quarantined. Every window gets a per-site sequence number that only grows,
 * so "how many windows arrived since the last redistillation" is `countSince(site, marker)`.
 *
 * Order of writes in addBatch: segment, then its id in the seen log, then the ack (by the caller); batches arriving
 * together share those writes' fsyncs (group commit, hub/store/group-commit.ts). A crash between the first two is
 * repaired at open (ids found in segments are added to the log), so an acknowledged batch is never stored twice.
 * Commits and reads run one at a time (a SerialQueue), so a batch redelivered while its first copy is being written
 * is still seen as a duplicate, and a read never races an eviction.
 *
 * Every read (and so every round, through split) first judges the batches it loaded for plausibility
 * (hub/store/sample-hygiene.ts); a batch that fails is moved to `quarantine/` (hub/store/sample-quarantine.ts), counted,
 * reported through `onImplausible`, and left out, so the round goes on without it.
 *
 * Rebuilding the state at open lives in hub/store/sample-store-open.ts, retention in hub/store/sample-retention.ts, the
 * per-site state in hub/store/sample-site.ts.
 */
import * as fs from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { SerialQueue } from '../../shared/serial-queue';
import { quarantineFile, writeFileAtomic } from './atomic-file';
import { judgeBatches, plausibleRanges, type HygieneSettings } from './sample-hygiene';
import { countQuarantined, quarantineImplausible, type ImplausibleRecord } from './sample-quarantine';
import { commitGroup, MAX_GROUP, pickWindows, type GroupHost, type PendingBatch, type SegmentRef } from './group-commit';
import { decodeSegment, encodeSegment, type Segment } from './sample-segment';
import { DurableWriter } from './durable-writer';
import { PackBook, readPackSegment, type PackSegment } from './sample-packs';
import { SeenIds } from './seen-ids';
import { checkOptions, checkReadOptions, metaJson } from './sample-store-checks';
import { loadAtOpen } from './sample-store-open';
import { enforceRetention } from './sample-retention';
import { compactPacks } from './pack-compaction';
import { attachSegment, detachSegment, newSite, type SiteState } from './sample-site';
import {
  assemble, describeShape, emptySet, sameShape, splitSet, type AddResult, type ReadOptions, type RoundSplit, type SampleBatch, type SampleSet, type Shape,
} from './sample-set';

export type { ImplausibleRecord } from './sample-quarantine';
export type { AddResult, ReadOptions, RoundSplit, SampleBatch, SampleSet, Selection, SelectedBy, Shape } from './sample-set';
export { isHeldOut } from './sample-set';

export interface SampleStoreOptions {
  readonly now: () => number;
  /** Oldest segments of a site are deleted beyond this many windows; a site's newest batch is always kept. */
  readonly maxWindowsPerSite?: number;
  /** Segment bytes over all sites; the largest site loses its oldest segment first, the batch just added is kept. */
  readonly maxBytesTotal?: number;
  /** How many batch ids stay remembered as duplicates after their windows are gone. */
  readonly maxSeenIds?: number;
  /** Plausibility of windows before they are handed out (the hub passes its source data's channel ranges). */
  readonly hygiene?: HygieneSettings;
  /** Told about each batch quarantined as implausible (the hub logs it). */
  readonly onImplausible?: (r: ImplausibleRecord) => void;
}

export interface QuarantineRecord {
  readonly file: string;
  readonly code: typeof ErrorCode.STORE_CORRUPT;
  readonly reason: string;
}


export class SampleStore {
  private readonly bySite = new Map<string, SiteState>();
  private readonly bad: QuarantineRecord[] = [];
  private readonly implausible: ImplausibleRecord[] = [];
  private implausibleAtOpen = 0;
  private readonly queue = new SerialQueue();
  private evictedSegments = 0;
  private compactedPacks = 0;
  private readonly waiting: PendingBatch[] = [];
  private commitQueued = false;
  private committing = 0;

  private constructor(
    private readonly dir: string,
    private readonly opts: Required<SampleStoreOptions>,
    private readonly seen: SeenIds,
    private readonly packs: PackBook,
    private readonly writer: DurableWriter,
    private readonly ownsWriter: boolean, // a store closes only a writer it made
  ) {}

  /** Opens and verifies every segment (corrupt ones quarantined); per-site stores share one `writer` thread (hub/shard). */
  static async open(dir: string, options: SampleStoreOptions, writer?: DurableWriter): Promise<SampleStore> {
    const opts = checkOptions(options);
    await fs.mkdir(join(dir, 'sites'), { recursive: true });
    const { seen, problems } = await SeenIds.open(join(dir, 'seen-ids.log'), opts.maxSeenIds);
    const store = new SampleStore(dir, opts, seen, await PackBook.open(dir), writer ?? new DurableWriter(), writer === undefined);
    for (const reason of problems) store.bad.push({ file: join(dir, 'seen-ids.log'), code: ErrorCode.STORE_CORRUPT, reason });
    await loadAtOpen({
      dir, bySite: store.bySite, packs: store.packs, siteFor: (site, dirName, shape) => store.siteFor(site, dirName, shape),
      quarantine: (file, reason) => store.quarantine(file, reason), quarantinePacked: (x, reason, held) => store.quarantinePacked(x, reason, held),
    }, seen);
    store.implausibleAtOpen = await countQuarantined(dir);
    await store.enforceRetention(undefined);
    await store.packs.settle();
    return store;
  }

  /**
   * Stores a batch unless its id was seen before. Throws `INPUT_SHAPE`, `INPUT_NONFINITE` or `STORE_WRITE`.
   *
   * Group commit: batches that arrive while a commit is running wait and are committed together by the next one
   * (their segments fsynced concurrently, one directory fsync per site, one append + fsync of the seen log), so the
   * fsyncs per batch fall as the load grows. Each promise still resolves only once its own batch is durable.
   */
  addBatch(site: string, batch: SampleBatch): Promise<AddResult> {
    return new Promise<AddResult>((resolve, reject) => {
      this.waiting.push({ site, batch, resolve, reject });
      this.scheduleCommit();
    });
  }

  /** Batches handed to addBatch and not yet durable (waiting or being committed): the hub's backpressure signal. */
  get backlog(): number {
    return this.waiting.length + this.committing;
  }

  private scheduleCommit(): void {
    if (this.commitQueued || this.waiting.length === 0) return;
    this.commitQueued = true;
    void this.queue
      .run(async () => {
        // Arrivals from here on queue the next commit, so one group never waits for batches that came after it began.
        this.commitQueued = false;
        const group = this.waiting.splice(0, MAX_GROUP);
        this.committing = group.length;
        try {
          await commitGroup(this.groupHost(), group);
        } finally {
          this.committing = 0;
        }
      })
      .finally(() => this.scheduleCommit());
  }

  /** What commitGroup (hub/store/group-commit.ts) needs of the store. */
  private groupHost(): GroupHost {
    return {
      seen: this.seen,
      now: this.opts.now,
      packs: this.packs,
      writer: this.writer,
      site: (site, dirName, shape) => this.siteFor(site, dirName, shape), hasSite: (site) => this.bySite.has(site),
      attach: (site, ref) => attachSegment(this.bySite.get(site) as SiteState, ref),
      enforceRetention: (keep) => this.enforceRetention(keep),
    };
  }

  /** The site's state, created (directory + meta.json) by its first batch; `INPUT_SHAPE` if the shape differs. */
  private async siteFor(site: string, dirName: string, shape: Shape): Promise<SiteState> {
    let st = this.bySite.get(site);
    if (st === undefined) {
      st = newSite(site, join(this.dir, 'sites', dirName), shape);
      await fs.mkdir(st.dir, { recursive: true }).catch(() => undefined); // a failure surfaces in the write below
      await writeFileAtomic(join(st.dir, 'meta.json'), metaJson(site, shape), { durable: false }); // rebuilt from segments if lost
      this.bySite.set(site, st);
    } else if (!sameShape(st.shape, shape)) {
      throw new SitekdError(ErrorCode.INPUT_SHAPE, `site ${site} stores windows of ${describeShape(st.shape)}, this batch has ${describeShape(shape)}`, {
        details: { site, expected: st.shape, actual: shape },
      });
    }
    return st;
  }

  sites(): string[] {
    return [...this.bySite.keys()].sort();
  }

  /** Windows currently stored for `site`. */
  count(site: string): number {
    return this.bySite.get(site)?.windows ?? 0;
  }

  /** The last sequence number given to a window of `site` (0 if none); use it as the marker of a redistillation. */
  lastSeq(site: string): number {
    return this.seen.highWater(site);
  }

  /** Stored windows with a sequence number above `marker` (evicted windows are not counted). */
  countSince(site: string, marker: number): number {
    let total = 0;
    for (const s of this.bySite.get(site)?.segments ?? []) total += Math.max(0, Math.min(s.n, s.seq + s.n - 1 - marker));
    return total;
  }

  /** Windows in sequence order (oldest first). A segment found corrupt now is quarantined and left out. */
  async read(site: string, options: ReadOptions = {}): Promise<SampleSet> {
    checkReadOptions(options);
    return await this.queue.run(async () => {
      const st = this.bySite.get(site);
      if (st === undefined) return emptySet({ channels: 0, windowLength: 0, numClasses: 0 });
      const picks = pickWindows(st.segments, options);
      const loaded: Array<{ seg: Segment; from: number; to: number; ref: SegmentRef }> = [];
      for (const { ref, from, to } of picks) {
        const seg = await this.load(st, ref);
        if (seg !== undefined) loaded.push({ seg, from, to, ref });
      }
      return assemble(st.shape, await this.screen(st, loaded));
    });
  }

  /**
   * Splits a site's windows into train and held-out by a hash of the batch id (or, `by: 'window'`, of batch id and
   * sequence number): a window stays on the same side in every round, and the held-out set keeps only the windows
   * agents sampled uniformly; the rest of the held-out side is set aside (sample-set.ts `RoundSplit`).
   */
  async split(site: string, holdoutFraction: number, options: ReadOptions & { readonly by?: 'batch' | 'window' } = {}): Promise<RoundSplit> {
    if (!(holdoutFraction >= 0 && holdoutFraction <= 1)) {
      throw new SitekdError(ErrorCode.CONFIG_INVALID, `holdoutFraction must be in [0, 1], got ${holdoutFraction}`);
    }
    const by = options.by ?? 'batch';
    if (by !== 'batch' && by !== 'window') throw new SitekdError(ErrorCode.CONFIG_INVALID, `split by must be batch or window, got ${String(by)}`);
    return splitSet(await this.read(site, options), holdoutFraction, by);
  }

  /**
   * `bytes`: of the batches held (what `maxBytesTotal` bounds); `diskBytes`: of the files holding them, packs with their
   * evicted batches still in them included (a pack is rewritten once three quarters of its batches are gone:
   * hub/store/pack-compaction.ts).
   */
  stats(): { sites: number; segments: number; windows: number; bytes: number; diskBytes: number; evictedSegments: number; compactedPacks: number; quarantined: number; implausible: number } {
    let [segments, windows, bytes, segmentFiles] = [0, 0, 0, 0];
    for (const st of this.bySite.values()) {
      [segments, windows, bytes] = [segments + st.segments.length, windows + st.windows, bytes + st.bytes];
      for (const s of st.segments) if (s.pack === undefined) segmentFiles += s.bytes;
    }
    const implausible = this.implausibleAtOpen + this.implausible.length;
    return {
      sites: this.bySite.size, segments, windows, bytes, diskBytes: this.packs.bytes + segmentFiles, evictedSegments: this.evictedSegments,
      compactedPacks: this.compactedPacks, quarantined: this.bad.length, implausible,
    };
  }

  /** Batches of `site` quarantined as implausible since open (hub/store/sample-hygiene.ts). */
  implausibleBatches(site?: string): readonly ImplausibleRecord[] {
    return this.implausible.filter((r) => site === undefined || r.site === site);
  }

  /** Files quarantined (renamed to `.bad`) since open, with the reason. */
  quarantined(): readonly QuarantineRecord[] {
    return [...this.bad];
  }

  /** Waits for pending operations (for shutdown). */
  async close(): Promise<void> {
    await this.queue.drain();
    if (this.ownsWriter) await this.writer.close();
  }

  /** The loaded batches that pass the plausibility check; the others are quarantined (module comment). */
  private async screen<T extends { seg: Segment; ref: SegmentRef }>(st: SiteState, loaded: T[]): Promise<T[]> {
    const batches = loaded.map(({ seg }) => ({ n: seg.header.n, windows: seg.windows, logits: seg.logits }));
    const verdicts = judgeBatches(batches, plausibleRanges(batches, st.shape, this.opts.hygiene), this.opts.hygiene);
    const kept: T[] = [];
    for (const [i, v] of verdicts.entries()) {
      const l = loaded[i] as T;
      if (v.ok) {
        kept.push(l);
        continue;
      }
      detachSegment(st, l.ref);
      const h = l.seg.header;
      const info = { site: st.site, batchId: h.batchId, agent: h.agent, reason: v.reason, at: this.opts.now() };
      const { pack, offset } = l.ref; // a packed batch is written out as a segment file of its own; the pack keeps a tombstone
      const rec = pack === undefined || offset === undefined ? await quarantineImplausible(this.dir, basename(st.dir), l.ref.file, info)
        : await quarantineImplausible(this.dir, basename(st.dir), `${String(h.seq).padStart(12, '0')}.seg`, info, encodeSegment(l.seg));
      if (pack !== undefined && offset !== undefined) await this.packs.release(pack, offset, true).catch(() => undefined);
      this.implausible.push(rec);
      this.opts.onImplausible(rec);
    }
    return kept;
  }

  private async load(st: SiteState, ref: SegmentRef): Promise<Segment | undefined> {
    const bytes = ref.offset === undefined ? await fs.readFile(ref.file).catch(() => undefined) : await readPackSegment(ref.file, ref.offset, ref.bytes);
    const res = bytes === undefined ? { ok: false as const, reason: 'file is missing' } : decodeSegment(bytes);
    const problem = !res.ok ? res.reason : res.segment.header.batchId !== ref.batchId ? 'batch id changed on disk' : undefined;
    if (problem === undefined && res.ok) return res.segment;
    detachSegment(st, ref);
    if (ref.pack === undefined || ref.offset === undefined) await this.quarantine(ref.file, problem ?? 'unreadable');
    else await this.quarantinePacked({ pack: ref.pack, file: ref.file, offset: ref.offset, bytes: Buffer.from(bytes ?? new Uint8Array(0)) }, problem ?? 'unreadable', true);
    return undefined;
  }

  private async quarantine(file: string, reason: string): Promise<void> {
    await quarantineFile(file);
    this.bad.push({ file, code: ErrorCode.STORE_CORRUPT, reason });
  }

  /** A packed segment that fails its checks: a copy kept as `<pack>.<offset>.bad`, and tombstoned (fsynced). */
  private async quarantinePacked(x: PackSegment, reason: string, held: boolean): Promise<void> {
    const file = `${x.file}.${x.offset}.bad`;
    await fs.writeFile(file, x.bytes).catch(() => undefined);
    if (held) await this.packs.release(x.pack, x.offset, true).catch(() => undefined);
    else await this.packs.bury(x.pack, x.offset, true);
    this.bad.push({ file, code: ErrorCode.STORE_CORRUPT, reason });
  }

  /** Retention, then compaction of the packs it left sparse, after each commit and at open (hub/store/sample-retention.ts, pack-compaction.ts). */
  private async enforceRetention(keep: SegmentRef | undefined): Promise<void> {
    const { maxWindowsPerSite, maxBytesTotal } = this.opts;
    await enforceRetention({ bySite: this.bySite, maxWindowsPerSite, maxBytesTotal, packs: this.packs, evicted: () => this.evictedSegments++ }, keep);
    this.compactedPacks += await compactPacks({ bySite: this.bySite, packs: this.packs, writer: this.writer, now: this.opts.now });
  }
}
