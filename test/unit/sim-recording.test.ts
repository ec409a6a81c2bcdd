import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadDomain, loadManifest } from '../../shared/data/har';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { buildRecording, chainWindows } from '../../sim/recording';
import { findHarDir } from '../../sim/sources';
import { SiteStream } from '../../sim/site-stream';
import { testNeeding } from '../helpers/requirements';

const C = 3;
const L = 8;
const H = L / 2;

/** One activity bout of a continuous recording: `samples[t·C + c]`, one label. */
interface Bout {
  readonly label: number;
  readonly samples: Float32Array;
  readonly windows: number;
}

/** Bouts of m windows each (L + (m − 1)·H samples), random values that never repeat. */
function bouts(spec: readonly (readonly [label: number, windows: number])[], seed = 1): Bout[] {
  const rng = createRng(seed);
  return spec.map(([label, windows]) => {
    const samples = new Float32Array((L + (windows - 1) * H) * C);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.fround(rng.normal());
    return { label, samples, windows };
  });
}

/** Cuts every bout into 50 %-overlap windows (channels-first), as UCI-HAR did; `where` says which bout and position. */
function cut(bs: readonly Bout[]): { x: Float32Array[]; y: number[]; where: [number, number][] } {
  const x: Float32Array[] = [];
  const y: number[] = [];
  const where: [number, number][] = [];
  bs.forEach((b, bi) => {
    for (let p = 0; p < b.windows; p++) {
      const w = new Float32Array(C * L);
      for (let c = 0; c < C; c++) for (let t = 0; t < L; t++) w[c * L + t] = b.samples[(p * H + t) * C + c] as number;
      x.push(w);
      y.push(b.label);
      where.push([bi, p]);
    }
  });
  return { x, y, where };
}

function windowSet(x: readonly Float32Array[], y: readonly number[]): WindowSet {
  const all = new Float32Array(x.length * C * L);
  x.forEach((w, i) => all.set(w, i * C * L));
  return { n: x.length, channels: C, length: L, x: all, y: Uint8Array.from(y) };
}

/** The windows shuffled and split 70/30, then stored test first, train second (the simulator's 'both' split). */
function shuffledSplit(bs: readonly Bout[], seed = 2): { ws: WindowSet; where: [number, number][] } {
  const { x, y, where } = cut(bs);
  const perm = createRng(seed).permutation(x.length);
  const nTrain = Math.round(x.length * 0.7);
  const train = [...perm.slice(0, nTrain)];
  const test = [...perm.slice(nTrain)];
  const order = [...test, ...train];
  return { ws: windowSet(order.map((i) => x[i]!), order.map((i) => y[i]!)), where: order.map((i) => where[i]!) };
}

describe('chainWindows / buildRecording', () => {
  const spec = [[0, 6], [3, 1], [1, 9], [0, 4], [5, 2], [2, 7]] as const;
  const bs = bouts(spec);
  const { ws, where } = shuffledSplit(bs);

  test('rebuilds every bout from shuffled, split 50 %-overlap windows: one chain per bout, windows in recording order', () => {
    const ch = chainWindows(ws);
    assert.equal(ch.windows, 29);
    assert.equal(ch.overlap, H);
    assert.equal(ch.chains.length, spec.length);
    assert.equal(ch.links, 29 - spec.length);
    assert.deepEqual([ch.ambiguous, ch.cyclesBroken, ch.labelChanges], [0, 0, 0]);
    const seenBouts = new Set<number>();
    for (const chain of ch.chains) {
      const b = where[chain[0]!]![0];
      seenBouts.add(b);
      assert.deepEqual([...chain].map((w) => where[w]), Array.from({ length: spec[b]![1] }, (_, p) => [b, p]));
    }
    assert.equal(seenBouts.size, spec.length);
    // Chains play in the order of their first window in the set.
    const firsts = ch.chains.map((c) => c[0]!);
    assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b));
  });

  test('the recording holds each raw sample once, every bout intact, labelled per sample', () => {
    const r = buildRecording(ws);
    const expected = bs.reduce((s, b) => s + b.samples.length / C, 0);
    assert.equal(r.samples, expected);
    assert.equal(r.x.length, expected * C);
    assert.equal(r.chainStarts[0], 0);
    r.chains.chains.forEach((chain, ci) => {
      const b = bs[where[chain[0]!]![0]]!;
      const start = r.chainStarts[ci]!;
      const n = b.samples.length / C;
      assert.equal((r.chainStarts[ci + 1] ?? r.samples) - start, n);
      assert.deepEqual(r.x.subarray(start * C, (start + n) * C), b.samples);
      assert.ok(r.labels.subarray(start, start + n).every((l) => l === b.label));
      // The first window owns L samples, each following one its last H.
      for (let p = 0; p < chain.length; p++) {
        const from = p === 0 ? 0 : L + (p - 1) * H;
        const to = L + p * H;
        for (let k = start + from; k < start + to; k++) assert.equal(r.owner[k], chain[p]);
      }
    });
  });

  test('a link between windows of two labels: the overlapping half is labelled by the earlier window, which owns it', () => {
    const [b] = bouts([[0, 2]], 5);
    const { x } = cut([b!]);
    const r = buildRecording(windowSet([x[1]!, x[0]!], [4, 1])); // window 1 continues window 0
    assert.equal(r.chains.labelChanges, 1);
    assert.deepEqual([...r.chains.chains[0]!], [1, 0]);
    assert.deepEqual([...r.labels], [1, 1, 1, 1, 1, 1, 1, 1, 4, 4, 4, 4]);
    assert.deepEqual([...r.owner], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  });

  test('ambiguous overlaps, self-overlaps and cycles do not link wrongly', () => {
    // A constant window: its tail equals its own head, which must not count.
    const flat = windowSet([new Float32Array(C * L).fill(1)], [0]);
    assert.deepEqual(chainWindows(flat).chains.map((c) => [...c]), [[0]]);

    // Two identical copies of the second window: window 0's tail matches both heads, so it links neither.
    const [b] = bouts([[2, 2]], 7);
    const { x } = cut([b!]);
    const dup = chainWindows(windowSet([x[0]!, x[1]!, x[1]!], [2, 2, 2]));
    assert.equal(dup.links, 0);
    assert.equal(dup.ambiguous, 1);
    assert.equal(dup.chains.length, 3);

    // Two windows whose tails both match one head: that head is claimed twice, no link.
    const head = Float32Array.from({ length: C * L }, (_, i) => (i % L < H ? 100 + i : 200 + i));
    const tailOf = (seed: number): Float32Array => {
      const w = Float32Array.from({ length: C * L }, (_, i) => seed + i);
      for (let c = 0; c < C; c++) for (let t = 0; t < H; t++) w[c * L + H + t] = head[c * L + t]!;
      return w;
    };
    const claimed = chainWindows(windowSet([tailOf(1000), tailOf(2000), head], [0, 0, 0]));
    assert.deepEqual([claimed.links, claimed.ambiguous], [0, 2]);

    // A periodic signal: a → b → a is a cycle, cut at its lowest window.
    const lo = Float32Array.from({ length: C * H }, (_, i) => i);
    const hi = Float32Array.from({ length: C * H }, (_, i) => 50 + i);
    const make = (first: Float32Array, second: Float32Array): Float32Array => {
      const w = new Float32Array(C * L);
      for (let c = 0; c < C; c++) {
        w.set(first.subarray(c * H, (c + 1) * H), c * L);
        w.set(second.subarray(c * H, (c + 1) * H), c * L + H);
      }
      return w;
    };
    const cyc = chainWindows(windowSet([make(hi, lo), make(lo, hi)], [0, 0]));
    assert.equal(cyc.cyclesBroken, 1);
    assert.deepEqual(cyc.chains.map((c) => [...c]), [[0, 1]]);
  });

  test('independent windows do not chain: the recording is the windows back to back', () => {
    const x = Array.from({ length: 4 }, (_, i) => Float32Array.from({ length: C * L }, (_, j) => i * 1000 + j));
    const ws2 = windowSet(x, [0, 1, 2, 3]);
    const r = buildRecording(ws2);
    assert.equal(r.chains.links, 0);
    assert.equal(r.samples, 4 * L);
    assert.deepEqual([...r.labels], [0, 1, 2, 3].flatMap((l) => Array<number>(L).fill(l)));
  });

  test('bad input is refused with a code', () => {
    assert.throws(() => chainWindows(ws, { overlap: L }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
    assert.throws(() => chainWindows({ ...ws, n: ws.n + 1 }), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
    const { y: _y, ...unlabelled } = ws;
    assert.throws(() => buildRecording(unlabelled), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  });
});

describe('SiteStream in the recorded order', () => {
  const bs = bouts([[0, 3], [1, 2], [0, 1]], 11);
  const { ws } = shuffledSplit(bs, 3);
  const s = new SiteStream(ws, { order: 'recorded' });
  const r = s.recording!;

  test('plays the rebuilt recording, reading by reading, and loops', () => {
    assert.equal(s.order, 'recorded');
    assert.equal(s.samplesPerLoop, 16 + 12 + 8);
    assert.equal(s.windowCount, 6);
    for (let k = 0; k < s.samplesPerLoop; k++) {
      assert.deepEqual([...s.valuesAt(k)], [...r.x.subarray(k * C, (k + 1) * C)]);
      assert.equal(s.labelAt(k), r.labels[k]);
      assert.equal(s.windowAt(k), r.owner[k]);
      assert.deepEqual([...s.valuesAt(k + 3 * s.samplesPerLoop)], [...s.valuesAt(k)]);
      assert.equal(s.labelAt(k + s.samplesPerLoop), s.labelAt(k));
    }
    // Consecutive readings inside a bout are consecutive raw samples: no jump at window boundaries.
    const start = r.chainStarts.findIndex((_, i) => r.chains.chains[i]!.length === 3);
    const k0 = r.chainStarts[start]!;
    const bout = bs.find((b) => b.windows === 3)!;
    for (let t = 0; t < 16; t++) assert.deepEqual([...s.valuesAt(k0 + t)], [...bout.samples.subarray(t * C, (t + 1) * C)]);
  });

  test('majority label of a span, sample by sample; ties at a change of activity are reported', () => {
    const labels = [...r.labels];
    const count = (k0: number, len: number): Map<number, number> => {
      const m = new Map<number, number>();
      for (let k = k0; k < k0 + len; k++) {
        const l = labels[k % labels.length]!;
        m.set(l, (m.get(l) ?? 0) + 1);
      }
      return m;
    };
    let ties = 0;
    let mixed = 0;
    for (let k0 = 0; k0 < 2 * s.samplesPerLoop; k0++) {
      const m = count(k0, L);
      const top = Math.max(...m.values());
      const leaders = [...m].filter(([, c]) => c === top);
      const got = s.majorityLabel(k0, L);
      if (m.size > 1) mixed++;
      if (leaders.length > 1) ties++;
      if (leaders.length > 1) assert.deepEqual(got, { kind: 'tie' }, `k0 ${k0}`);
      else assert.deepEqual(got, { kind: 'label', label: leaders[0]![0], samples: top }, `k0 ${k0}`);
    }
    assert.ok(ties > 0 && mixed > ties, `${ties} ties, ${mixed} mixed spans`);
    assert.equal(s.majorityLabel(-1, L), undefined);
  });
});

const harDir = findHarDir(undefined);
const TARGETS: Record<string, { windows: number; chains: number; samples: number }> = {
  '11': { windows: 316, chains: 29, samples: 22080 },
  '13': { windows: 327, chains: 28, samples: 22720 },
  '16': { windows: 366, chains: 28, samples: 25216 },
  '18': { windows: 364, chains: 28, samples: 25088 },
  '23': { windows: 372, chains: 28, samples: 25600 },
};

describe('real UCI-HAR data (../shared/data/HAR)', () => {
  testNeeding(
    { what: 'HAR data', missing: harDir === undefined ? 'no HAR data at ../shared/data/HAR (real-data chaining not checked)' : undefined, requiredInCi: false },
    'the five target subjects chain exactly: every link bit-exact, no near misses, no link across activities',
    {},
    () => {
      const manifest = loadManifest(harDir!);
      for (const [id, want] of Object.entries(TARGETS)) {
        const d = loadDomain(manifest, id);
        const x = new Float32Array(d.test.x.length + d.train.x.length);
        x.set(d.test.x);
        x.set(d.train.x, d.test.x.length);
        const y = new Uint8Array(d.test.n + d.train.n);
        y.set(d.test.y!);
        y.set(d.train.y!, d.test.n);
        const ws: WindowSet = { n: d.test.n + d.train.n, channels: d.test.channels, length: d.test.length, x, y };
        const r = buildRecording(ws);
        const ch = r.chains;
        assert.deepEqual(
          { windows: ch.windows, chains: ch.chains.length, samples: r.samples, ambiguous: ch.ambiguous, labelChanges: ch.labelChanges, cycles: ch.cyclesBroken },
          { ...want, ambiguous: 0, labelChanges: 0, cycles: 0 },
          `subject ${id}`,
        );
        // Every window appears once, at a 64-sample step of its chain, with its values intact.
        const { channels: Cn, length: Ln } = ws;
        const Hn = Ln / 2;
        const used = new Uint8Array(ws.n);
        ch.chains.forEach((chain, ci) => {
          chain.forEach((w, p) => {
            used[w]!++;
            const k0 = r.chainStarts[ci]! + p * Hn;
            for (let c = 0; c < Cn; c++) {
              for (let t = 0; t < Ln; t++) assert.equal(r.x[(k0 + t) * Cn + c], x[(w * Cn + c) * Ln + t], `subject ${id} window ${w}`);
            }
          });
        });
        assert.ok(used.every((u) => u === 1), `subject ${id}: every window used once`);
        // A chain's last window has no other window whose head is within 1e-3 of its tail: a tolerance would add nothing.
        for (const chain of ch.chains) {
          const a = chain[chain.length - 1]!;
          for (let b = 0; b < ws.n; b++) {
            if (b === a) continue;
            let near = true;
            for (let c = 0; c < Cn && near; c++) {
              for (let t = 0; t < Hn; t++) {
                if (Math.abs(x[(a * Cn + c) * Ln + Hn + t]! - x[(b * Cn + c) * Ln + t]!) > 1e-3) {
                  near = false;
                  break;
                }
              }
            }
            assert.ok(!near, `subject ${id}: window ${a} ends a chain but window ${b} nearly continues it`);
          }
        }
      }
    },
  );
});
