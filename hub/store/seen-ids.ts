/**
 * The persisted set of sample batch ids the hub has accepted, per site, for hub/store/sample-store.ts.
 *
 * Why a log of its own: a batch must stay a duplicate after retention deleted its windows (an agent that missed
 * the ack resends it later), so the segment files cannot be the only record. It is an append-only JSON-lines file,
 * fsynced per group of batches committed together, bounded to the newest `maxIds` ids and compacted (atomically rewritten) when it grows past
 * twice that. It also carries each site's sequence high-water mark, so window sequence numbers never go backwards
 * across restarts, even after every segment and every old id of a site is gone.
 */
import * as fs from 'node:fs/promises';
import { z } from 'zod';
import { appendDurable, quarantineFile, writeFileAtomic } from './atomic-file';

const BatchLineSchema = z.strictObject({ s: z.string().min(1), b: z.string().min(1), q: z.number().int().min(1), n: z.number().int().min(1) });
const HighWaterLineSchema = z.strictObject({ s: z.string().min(1), hw: z.number().int().min(0) });
const LineSchema = z.union([BatchLineSchema, HighWaterLineSchema]);

export interface SeenEntry {
  readonly site: string;
  readonly batchId: string;
  /** First window sequence number of the batch. */
  readonly seq: number;
  readonly n: number;
}

export interface SeenOpenResult {
  readonly seen: SeenIds;
  /** One line per problem found (bad lines, torn last line); the original file was kept as `.bad`. */
  readonly problems: readonly string[];
}

export class SeenIds {
  private readonly ids = new Map<string, SeenEntry>(); // insertion order = age, oldest first
  private readonly hw = new Map<string, number>();
  private lines = 0;

  private constructor(
    private readonly path: string,
    private readonly maxIds: number,
  ) {}

  static async open(path: string, maxIds: number): Promise<SeenOpenResult> {
    const seen = new SeenIds(path, maxIds);
    let text = '';
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return { seen, problems: [] };
    }
    const problems: string[] = [];
    const rows = text.split('\n');
    // A crash mid-append leaves a last line without its newline: that batch was never acknowledged, so dropping it is safe.
    const tail = rows.pop();
    if (tail !== undefined && tail !== '') problems.push(`${path}: incomplete last line dropped`);
    rows.forEach((row, i) => {
      if (row === '') return;
      const parsed = LineSchema.safeParse(parseJson(row));
      if (!parsed.success) problems.push(`${path}:${i + 1}: unreadable line dropped`);
      else if ('hw' in parsed.data) seen.raise(parsed.data.s, parsed.data.hw);
      else seen.remember({ site: parsed.data.s, batchId: parsed.data.b, seq: parsed.data.q, n: parsed.data.n });
    });
    seen.lines = rows.length;
    if (problems.length > 0) {
      await quarantineFile(path);
      await seen.compact();
    }
    return { seen, problems };
  }

  get size(): number {
    return this.ids.size;
  }

  has(site: string, batchId: string): boolean {
    return this.ids.has(key(site, batchId));
  }

  /** The last window sequence number handed out for `site`, 0 if none. */
  highWater(site: string): number {
    return this.hw.get(site) ?? 0;
  }

  /** Sites that ever stored a batch (still remembered by a high-water mark). */
  sites(): string[] {
    return [...this.hw.keys()];
  }

  /** Records a stored batch durably (append + fsync). Throws `STORE_WRITE`. */
  async add(entry: SeenEntry): Promise<void> {
    await this.addMany([entry]);
  }

  /**
   * Records a group of stored batches with one append and one fsync (the store's group commit): all or none, as far
   * as an ack can tell, since none is acknowledged before this resolves. Throws `STORE_WRITE`.
   */
  async addMany(entries: readonly SeenEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await appendDurable(this.path, this.logText(entries));
    await this.appended(entries);
  }

  /** The log file, and the lines that record `entries`, for a caller that appends them itself (the group commit). */
  get file(): string {
    return this.path;
  }

  logText(entries: readonly SeenEntry[]): string {
    return entries.map((e) => `${JSON.stringify({ s: e.site, b: e.batchId, q: e.seq, n: e.n })}\n`).join('');
  }

  /** `logText(entries)` is durably in the log: remember them (and compact the log when it grew past its bound). */
  async appended(entries: readonly SeenEntry[]): Promise<void> {
    this.lines += entries.length;
    for (const e of entries) this.remember(e);
    if (this.lines > 2 * this.maxIds + this.hw.size) await this.compact();
  }

  /** In memory only: used at open to take in ids found in segment files but missing from the log. */
  remember(entry: SeenEntry): void {
    const k = key(entry.site, entry.batchId);
    this.ids.delete(k); // re-inserting moves it to the young end
    this.ids.set(k, entry);
    this.raise(entry.site, entry.seq + entry.n - 1);
    for (const oldest of this.ids.keys()) {
      if (this.ids.size <= this.maxIds) break;
      this.ids.delete(oldest);
    }
  }

  /** Rewrites the file with the current marks and ids, atomically. Throws `STORE_WRITE`. */
  async compact(): Promise<void> {
    const marks = [...this.hw].map(([s, hw]) => JSON.stringify({ s, hw }));
    const batches = [...this.ids.values()].map((e) => JSON.stringify({ s: e.site, b: e.batchId, q: e.seq, n: e.n }));
    const all = [...marks, ...batches];
    await writeFileAtomic(this.path, all.length === 0 ? '' : `${all.join('\n')}\n`);
    this.lines = all.length;
  }

  private raise(site: string, seq: number): void {
    if (seq > (this.hw.get(site) ?? 0)) this.hw.set(site, seq);
  }
}

function key(site: string, batchId: string): string {
  return `${site}\u0000${batchId}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
