/**
 * What the hub knows about each site: its agents and their liveness (from the retained birth and last-will status
 * messages), the model version it currently publishes, how many new windows arrived, and the last redistillation.
 *
 * Only what must survive a restart is persisted, to one JSON file written atomically: the published model version
 * (so a restarted hub does not republish or downgrade), the site's model history with the highest version number it
 * ever had and the rollout being watched (hub/sites/model-history.ts), and the last redistillation (node-cron has no
 * catch-up, so the hub compares it with the schedule at startup; its `seqMarker` lets the hub recount new windows
 * from the sample store). Agent liveness is not persisted: the broker redelivers the retained status of every agent.
 */
import * as fs from 'node:fs/promises';
import { z } from 'zod';
import { ErrorCode } from '../../shared/errors';
import { SerialQueue } from '../../shared/serial-queue';
import { quarantineFile, writeFileAtomic } from '../store/atomic-file';
import {
  appendRecord, highestNumber, markRollout, ModelRecordSchema, MAX_MODEL_RECORDS, RolloutWatchSchema, type ModelRecord, type RolloutOutcome, type RolloutWatch,
} from './model-history';

/** A status message as the protocol decodes it: the retained birth, or the last will. */
export type AgentStatus =
  | { readonly state: 'online'; readonly agentVersion: string; readonly modelVersion: string | null; readonly backend: string }
  | { readonly state: 'offline' };

export type AgentLiveness = 'online' | 'offline' | 'stale';

export interface AgentInfo {
  readonly site: string;
  readonly agent: string;
  /** `stale`: online by its last status, but silent for longer than `staleAfterMs`. */
  readonly state: AgentLiveness;
  readonly agentVersion: string | null;
  readonly modelVersion: string | null;
  readonly backend: string | null;
  /** Last message of any kind from the agent (birth, telemetry, samples, …). */
  readonly lastSeenAt: number;
  /** When the current state began (birth or last will). */
  readonly since: number;
}

const RedistillRecordSchema = z.strictObject({
  at: z.number(),
  outcome: z.enum(['published', 'rejected', 'skipped', 'failed']),
  jobId: z.string().optional(),
  modelVersion: z.string().optional(),
  /** The sample store's `lastSeq(site)` when the round read its data. */
  seqMarker: z.number().int().min(0).optional(),
  code: z.string().optional(),
  message: z.string().optional(),
});
export type RedistillRecord = z.infer<typeof RedistillRecordSchema>;

const PersistedSiteSchema = z.strictObject({
  site: z.string().min(1),
  modelVersion: z.string().optional(),
  modelVersionAt: z.number().optional(),
  /** The highest version number ever published (hub/models/versioning.ts); absent in files from before rollbacks. */
  highestVersion: z.number().int().min(0).optional(),
  models: z.array(ModelRecordSchema).max(MAX_MODEL_RECORDS).optional(),
  watch: RolloutWatchSchema.optional(),
  lastRedistill: RedistillRecordSchema.optional(),
});
type PersistedSite = z.infer<typeof PersistedSiteSchema>;
// An array, not an object keyed by site: a site named `__proto__` must stay a plain entry.
const FileSchema = z.strictObject({ version: z.literal(1), sites: z.array(PersistedSiteSchema) });

export interface SiteInfo {
  readonly site: string;
  readonly modelVersion: string | undefined;
  readonly modelVersionAt: number | undefined;
  readonly lastRedistill: RedistillRecord | undefined;
  readonly newWindows: number;
  readonly agents: readonly AgentInfo[];
  /** Online agents that report the published model version, of all online agents: the rollout progress. */
  readonly rollout: { readonly online: number; readonly onVersion: number };
}

export interface SiteRegistryOptions {
  readonly now: () => number;
  /** An online agent silent for longer than this is reported `stale` (the broker's last will may be late). */
  readonly staleAfterMs?: number;
}

type MutableAgent = { -readonly [K in keyof AgentInfo]: AgentInfo[K] };

export class SiteRegistry {
  private readonly persisted = new Map<string, PersistedSite>();
  private readonly agentsBySite = new Map<string, Map<string, MutableAgent>>();
  private readonly windows = new Map<string, number>();
  private readonly writes = new SerialQueue();
  private dirty = false;
  /** Per-site mode (`perSite`): where each site's entry lives. */
  private fileFor: ((site: string) => string) | undefined;

  private constructor(
    private readonly file: string,
    private readonly now: () => number,
    private readonly staleAfterMs: number,
    /** Problems found in the file at open (it was quarantined as `.bad` and the registry started empty). */
    readonly problems: readonly { readonly code: typeof ErrorCode.STORE_CORRUPT; readonly message: string }[],
  ) {}

  /** Loads the persisted state; a missing file is a fresh hub, a corrupt one is quarantined (never fatal). */
  static async open(file: string, opts: SiteRegistryOptions): Promise<SiteRegistry> {
    const { sites, problems } = await readRegistryFile(file);
    const reg = new SiteRegistry(file, opts.now, opts.staleAfterMs ?? Number.POSITIVE_INFINITY, problems);
    for (const s of sites) reg.persisted.set(s.site, s);
    return reg;
  }

  /**
   * A registry of a hub that shares its state directory with other hubs (hub/shard/): one file per site, read when the
   * hub takes the site (`adopt`) and left behind, flushed, when it hands the site over (`release`), so the next owner
   * continues the site's model versions, history and last round.
   */
  static perSite(fileFor: (site: string) => string, opts: SiteRegistryOptions): SiteRegistry {
    const reg = new SiteRegistry('', opts.now, opts.staleAfterMs ?? Number.POSITIVE_INFINITY, []);
    reg.fileFor = fileFor;
    return reg;
  }

  /** Per-site mode: loads the site's persisted entry (a corrupt file is quarantined and the site starts empty). */
  async adopt(site: string): Promise<readonly string[]> {
    const { sites, problems } = await readRegistryFile(this.fileFor?.(site) ?? this.file);
    const entry = sites.find((s) => s.site === site);
    if (entry !== undefined) this.persisted.set(site, entry);
    return problems.map((p) => p.message);
  }

  /** Per-site mode: writes what is pending, then forgets the site (another hub owns it now). */
  async release(site: string): Promise<void> {
    await this.flush();
    this.persisted.delete(site);
    this.agentsBySite.delete(site);
    this.windows.delete(site);
  }

  /** Applies a birth or last-will status message. */
  handleStatus(site: string, agent: string, status: AgentStatus): void {
    const now = this.now();
    const a = this.agentEntry(site, agent, now);
    if (status.state === 'online') {
      Object.assign(a, { state: 'online', agentVersion: status.agentVersion, modelVersion: status.modelVersion, backend: status.backend, lastSeenAt: now, since: now });
    } else if (a.state !== 'offline') {
      Object.assign(a, { state: 'offline', since: now }); // lastSeenAt stays: the will is the broker speaking
    }
  }

  /** Any other message from an agent (telemetry, predictions, samples): it is alive, maybe on a new model. */
  touch(site: string, agent: string, info: { readonly modelVersion?: string } = {}): void {
    const now = this.now();
    const a = this.agentEntry(site, agent, now);
    a.lastSeenAt = now;
    if (info.modelVersion !== undefined) a.modelVersion = info.modelVersion;
    // The state is left alone: only a birth makes an agent online (a late QoS 1 message may follow its last will).
  }

  agents(site: string): AgentInfo[] {
    const now = this.now();
    return [...(this.agentsBySite.get(site)?.values() ?? [])].map((a) => this.view(a, now)).sort((x, y) => x.agent.localeCompare(y.agent));
  }

  /** Every site the hub has heard of: from agents, samples, or the persisted file. */
  sites(): string[] {
    return [...new Set([...this.persisted.keys(), ...this.agentsBySite.keys(), ...this.windows.keys()])].sort();
  }

  /** Whether `sites()` includes `site`, without building that list: asked for every inbound message. */
  has(site: string): boolean {
    return this.persisted.has(site) || this.agentsBySite.has(site) || this.windows.has(site);
  }

  site(site: string): SiteInfo | undefined {
    if (!this.has(site)) return undefined;
    const p = this.persisted.get(site);
    const agents = this.agents(site);
    const online = agents.filter((a) => a.state !== 'offline');
    return {
      site,
      modelVersion: p?.modelVersion,
      modelVersionAt: p?.modelVersionAt,
      lastRedistill: p?.lastRedistill,
      newWindows: this.newWindows(site),
      agents,
      rollout: { online: online.length, onVersion: online.filter((a) => p?.modelVersion !== undefined && a.modelVersion === p.modelVersion).length },
    };
  }

  /** All sites, for `hub/status`. */
  snapshot(): SiteInfo[] {
    return this.sites().map((s) => this.site(s) as SiteInfo);
  }

  modelVersion(site: string): string | undefined {
    return this.persisted.get(site)?.modelVersion;
  }

  /** Records the version now published for `site` and persists it. Throws `STORE_WRITE` (memory is updated anyway). */
  async setModelVersion(site: string, version: string): Promise<void> {
    await this.recordModel(site, { version, at: this.now(), kind: 'published' });
  }

  /**
   * Records a version put on the broker (published, or published again by a rollback) as the site's current one, in
   * its history, and persists it. Throws `STORE_WRITE` (memory is updated anyway).
   */
  async recordModel(site: string, record: ModelRecord): Promise<void> {
    const p = this.persistedEntry(site);
    const models = appendRecord(p.models ?? [], record);
    const highestVersion = highestNumber(models, p.highestVersion, p.modelVersion);
    this.persisted.set(site, { ...p, modelVersion: record.version, modelVersionAt: record.at, highestVersion, models });
    await this.persist();
  }

  /** Every version recorded for the site, oldest first. */
  modelHistory(site: string): readonly ModelRecord[] {
    return this.persisted.get(site)?.models ?? [];
  }

  /** The highest version number the site ever had (a rollback does not lower it). */
  highestVersionNumber(site: string): number {
    const p = this.persisted.get(site);
    return highestNumber(p?.models ?? [], p?.highestVersion, p?.modelVersion);
  }

  /** The rollout being watched for the site, if any. */
  watch(site: string): RolloutWatch | undefined {
    return this.persisted.get(site)?.watch;
  }

  /** Sites with a rollout under watch. */
  watchedSites(): string[] {
    return [...this.persisted.values()].filter((p) => p.watch !== undefined).map((p) => p.site);
  }

  /**
   * Starts (`watch`), updates or ends (undefined) a site's rollout watch; `outcome` marks the watched version's record
   * in the history. Persists. Throws `STORE_WRITE` (memory is updated anyway).
   */
  async setWatch(site: string, watch: RolloutWatch | undefined, outcome?: { readonly version: string; readonly outcome: RolloutOutcome }): Promise<void> {
    const { watch: _old, ...p } = this.persistedEntry(site);
    const models = outcome === undefined ? p.models : markRollout(p.models ?? [], outcome.version, outcome.outcome);
    this.persisted.set(site, { ...p, ...(models !== undefined ? { models } : {}), ...(watch !== undefined ? { watch } : {}) });
    await this.persist();
  }

  lastRedistill(site: string): RedistillRecord | undefined {
    return this.persisted.get(site)?.lastRedistill;
  }

  /** Records the end of a redistillation round and persists it. Throws `STORE_WRITE` (memory is updated anyway). */
  async recordRedistill(site: string, record: RedistillRecord): Promise<void> {
    this.persisted.set(site, { ...this.persistedEntry(site), lastRedistill: { ...record } });
    await this.persist();
  }

  /** Counts windows stored for `site` since the counter was last set; returns the new count. */
  addNewWindows(site: string, n: number): number {
    const count = this.newWindows(site) + n;
    this.windows.set(site, count);
    return count;
  }

  /** Sets the counter, e.g. from `store.countSince(site, lastRedistill.seqMarker)` at startup or after a round. */
  setNewWindows(site: string, n: number): void {
    this.windows.set(site, n);
  }

  newWindows(site: string): number {
    return this.windows.get(site) ?? 0;
  }

  /** Resolves once every change so far is on disk (or its write failed). */
  async flush(): Promise<void> {
    await this.writes.drain();
  }

  // Writes coalesce: however many changes queue up behind a running write, one more write of the latest state follows.
  private persist(): Promise<void> {
    this.dirty = true;
    return this.writes.run(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const sites = [...this.persisted.values()].sort((a, b) => a.site.localeCompare(b.site));
      const fileFor = this.fileFor;
      const writes = fileFor === undefined ? [{ file: this.file, sites }] : sites.map((s) => ({ file: fileFor(s.site), sites: [s] }));
      try {
        for (const w of writes) await writeFileAtomic(w.file, `${JSON.stringify({ version: 1, sites: w.sites }, null, 2)}\n`);
      } catch (err) {
        this.dirty = true; // the next change retries
        throw err;
      }
    });
  }

  private persistedEntry(site: string): PersistedSite {
    return this.persisted.get(site) ?? { site };
  }

  private agentEntry(site: string, agent: string, now: number): MutableAgent {
    let bySite = this.agentsBySite.get(site);
    if (bySite === undefined) this.agentsBySite.set(site, (bySite = new Map()));
    let a = bySite.get(agent);
    if (a === undefined) {
      a = { site, agent, state: 'offline', agentVersion: null, modelVersion: null, backend: null, lastSeenAt: now, since: now };
      bySite.set(agent, a);
    }
    return a;
  }

  private view(a: MutableAgent, now: number): AgentInfo {
    return { ...a, state: a.state === 'online' && now - a.lastSeenAt > this.staleAfterMs ? 'stale' : a.state };
  }
}

type Problem = { code: typeof ErrorCode.STORE_CORRUPT; message: string };

async function readRegistryFile(file: string): Promise<{ sites: PersistedSite[]; problems: Problem[] }> {
  const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return { sites: [], problems: [] };
  const parsed = FileSchema.safeParse(parseJson(text));
  if (parsed.success) return { sites: parsed.data.sites, problems: [] };
  await quarantineFile(file);
  return { sites: [], problems: [{ code: ErrorCode.STORE_CORRUPT, message: `${file} is not a valid registry file; kept as ${file}.bad, starting empty` }] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
