/** Shared fixtures of the sample-store tests. */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { SampleStore, type SampleBatch, type SampleStoreOptions } from '../../hub/store/sample-store';
import { PACK_SUFFIX, PACKS_DIR, PackBook, scanPacks } from '../../hub/store/sample-packs';
import { decodeSegment } from '../../hub/store/sample-segment';
import { encodeSiteDir } from '../../hub/store/sample-store-checks';

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sitekd-store-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A batch of `n` windows of 4 steps × 2 channels, 3 classes; values encode (id, window, index) so mix-ups show. Every
 * window is uniformly sampled unless `selectedBy` says otherwise (`undefined`: an agent that does not say).
 */
export function makeBatch(batchId: string, over: Partial<SampleBatch> = {}): SampleBatch {
  const n = over.n ?? 2;
  const channels = over.channels ?? 2;
  const windowLength = over.windowLength ?? 4;
  const numClasses = over.numClasses ?? 3;
  const tag = [...batchId].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1000, 7);
  return {
    batchId,
    agent: 'a1',
    modelVersion: 'v1',
    channels,
    windowLength,
    numClasses,
    n,
    windows: Float32Array.from({ length: n * windowLength * channels }, (_, i) => tag + i / 1000),
    logits: Float32Array.from({ length: n * numClasses }, (_, i) => -tag - i / 100),
    windowStarts: Array.from({ length: n }, (_, i) => 1_700_000_000_000 + tag * 10_000 + i * 1280),
    selectedBy: new Array<'uniform'>(n).fill('uniform'),
    ...over,
  };
}

export const clock = { now: (): number => 1_800_000_000_000 };
export const open = (dir: string, o: Partial<SampleStoreOptions> = {}): Promise<SampleStore> => SampleStore.open(dir, { ...clock, ...o });

/** The pack files of a store (hub/store/sample-packs.ts), sorted. */
export async function packFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(path.join(dir, PACKS_DIR)).catch(() => [] as string[])).filter((f) => f.endsWith(PACK_SUFFIX)).sort();
}

/**
 * Rewrites a closed store's packs as the layout stores had before packs: one `sites/<site>/<seq>.seg` per batch (the
 * same segment bytes), no `packs/`. What a state dir of an older hub looks like, to test that it still loads.
 */
export async function toSegmentFiles(dir: string): Promise<void> {
  const book = await PackBook.open(dir);
  const { segments } = await scanPacks(book);
  for (const x of segments) {
    const r = decodeSegment(x.bytes);
    if (!r.ok) throw new Error(`unreadable segment in ${x.file}: ${r.reason}`);
    const h = r.segment.header;
    await fs.writeFile(path.join(dir, 'sites', encodeSiteDir(h.site), `${String(h.seq).padStart(12, '0')}.seg`), x.bytes);
  }
  await fs.rm(path.join(dir, PACKS_DIR), { recursive: true });
}
