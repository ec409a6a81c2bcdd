/**
 * `node dist/bench/scale-store.js [--batches N] [--rate R] [--sites S]`: the hub's sample store alone, in this process
 * (no MQTT): N one-window batches (9 × 128, HAR-shaped) offered at R per second over S sites, as the hub's inbound
 * would hand them over under load. Prints batches stored per second, the ack latency (addBatch → resolved, i.e.
 * durable) p50 / p99, pack files written and this process's CPU (user / system). For the figures in docs/scaling.md.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SampleStore, type SampleBatch } from '../hub/store/sample-store';
import { benchArgs, runBench } from './timing';

const { values: o } = benchArgs({ options: { batches: { type: 'string', default: '20000' }, rate: { type: 'string', default: '4000' }, sites: { type: 'string', default: '500' } } });
const [N, RATE, SITES] = [Number(o.batches), Number(o.rate), Number(o.sites)];

function batch(i: number): SampleBatch {
  return {
    batchId: `b-${i}`, agent: `gw-${i % (4 * SITES)}`, modelVersion: '1-00000000', channels: 9, windowLength: 128, numClasses: 6, n: 1,
    windows: new Float32Array(128 * 9).map((_, j) => (j % 9 === 6 ? 1 : 0) + Math.random() - 0.5), logits: new Float32Array(6).map(() => Math.random()),
    windowStarts: [1_800_000_000_000 + i], selectedBy: ['uniform'],
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sitekd-bench-store-'));
  try {
    const store = await SampleStore.open(dir, { now: () => Date.now() });
    const batches = Array.from({ length: N }, (_, i) => batch(i));
    const latencies: number[] = [];
    const adds: Array<Promise<unknown>> = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    // Every 10 ms the batches due by then, so groups form as they do in the hub.
    await new Promise<void>((done) => {
      let i = 0;
      const timer = setInterval(() => {
        const due = Math.min(N, Math.floor(((performance.now() - t0) / 1000) * RATE));
        for (; i < due; i++) {
          const at = performance.now();
          adds.push(store.addBatch(`site-${i % SITES}`, batches[i] as SampleBatch).then(() => void latencies.push(performance.now() - at)));
        }
        if (i >= N) {
          clearInterval(timer);
          done();
        }
      }, 10);
    });
    await Promise.all(adds);
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number);
    const packs = readdirSync(join(dir, 'packs')).filter((f) => f.endsWith('.pack')).length;
    await store.close();
    process.stdout.write(`${JSON.stringify({ batches: N, offeredPerSec: RATE, sites: SITES, storedPerSec: Math.round(N / s), p50AckMs: pct(0.5), p99AckMs: pct(0.99), packs, userCpuPct: Math.round(c.user / 1e4 / s), systemCpuPct: Math.round(c.system / 1e4 / s) })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
