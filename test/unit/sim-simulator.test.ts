import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '../../shared/protocol/codec';
import { predictionsTopic } from '../../shared/protocol/topics';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { Simulator } from '../../sim/simulator';
import type { SimTransport } from '../../sim/simulator-options';
import { SiteStream } from '../../sim/site-stream';
import type { SimSite } from '../../sim/sources';
import { ManualClock } from '../helpers/manual-clock';

const L = 8;

function site(id: string, labels: readonly number[], base: number): SimSite {
  const n = labels.length;
  const C = 2;
  const x = new Float32Array(n * C * L);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let t = 0; t < L; t++) x[(i * C + c) * L + t] = base + i * 100 + c * 10 + t;
  return {
    site: id,
    kind: 'synthetic',
    subject: id,
    description: `fake ${id}`,
    classNames: ['a', 'b'],
    samplingRateHz: 50,
    stream: new SiteStream({ n, channels: C, length: L, x, y: Uint8Array.from(labels) }),
  };
}

class FakeTransport implements SimTransport {
  connected = true;
  readonly published: { topic: string; payload: Uint8Array; retain: boolean }[] = [];
  readonly handlers = new Map<string, (topic: string, payload: Buffer) => void | Promise<void>>();
  readonly unsubscribed: string[] = [];
  failNext = 0;
  async publish(topic: string, payload: Uint8Array, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('boom');
    }
    this.published.push({ topic, payload, retain: opts.retain ?? false });
  }
  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void | Promise<void>): Promise<void> {
    this.handlers.set(filter, handler);
  }
  async unsubscribe(filter: string): Promise<void> {
    this.unsubscribed.push(filter);
  }
  readings(topic: string): { ts: number; values: number[] }[] {
    return this.published.filter((p) => p.topic === topic).map((p) => JSON.parse(new TextDecoder().decode(p.payload)) as { ts: number; values: number[] });
  }
}

function harness(opts: { speed?: number; maxMessagesPerSec?: number; maxReadingsPerSite?: number; maxInFlight?: number } = {}) {
  const clock = new ManualClock(1_700_000_000_007);
  const transport = new FakeTransport();
  const errors: unknown[] = [];
  const sim = new Simulator({
    sites: [site('site-1', [0, 1], 0), site('site-2', [1, 1, 0], 5000)],
    transport,
    clock,
    onError: (e) => errors.push(e),
    ...opts,
  });
  return {
    sim,
    transport,
    clock,
    errors,
    /** Moves the clock without running its timers: the tests call tick() by hand. */
    advance(ms: number): void {
      clock.setWallTime(clock.now() + ms);
    },
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Simulator', () => {
  test('real time: one reading per site every 20 ms, ts on the 20 ms grid, values in channel order', async () => {
    const h = harness();
    await h.sim.start();
    assert.equal(h.sim.t0, 1_700_000_000_020); // rounded up to the grid
    assert.equal(h.sim.readingsIssued, 1); // the first reading goes at once
    h.advance(19);
    h.sim.tick();
    assert.equal(h.sim.readingsIssued, 1);
    h.advance(1);
    h.sim.tick();
    h.advance(100);
    h.sim.tick();
    assert.equal(h.sim.readingsIssued, 7);
    await flush();
    const r = h.transport.readings('sim/site-1/imu');
    assert.deepEqual(r.map((x) => x.ts - h.sim.t0), [0, 20, 40, 60, 80, 100, 120]);
    assert.deepEqual(r[3]!.values, [3, 13]);
    assert.deepEqual(h.transport.readings('sim/site-2/imu')[6]!.values, [5006, 5016]);
    assert.deepEqual(h.sim.stats().map((s) => s.readingsSent), [7, 7]);
    assert.deepEqual([...h.transport.handlers.keys()], ['sitekd/v1/site-1/+/predictions', 'sitekd/v1/site-2/+/predictions']);
    await h.sim.stop();
  });

  test('speed x: ts still advances 20 ms per reading while wall time advances 20/x ms', async () => {
    const h = harness({ speed: 10 });
    await h.sim.start();
    h.advance(100); // 1 s simulated
    h.sim.tick();
    assert.equal(h.sim.readingsIssued, 51);
    await flush();
    const ts = h.transport.readings('sim/site-2/imu').map((x) => x.ts);
    for (let i = 1; i < ts.length; i++) assert.equal(ts[i]! - ts[i - 1]!, 20);
    await h.sim.stop();
  });

  test('the speed is lowered to keep under maxMessagesPerSec', () => {
    const h = harness({ speed: 1000, maxMessagesPerSec: 500 });
    // 2 sites × 50/s = 100/s at speed 1 → at most speed 5.
    assert.equal(h.sim.effectiveSpeed, 5);
    assert.equal(h.sim.requestedSpeed, 1000);
  });

  test('lagging far behind re-bases the schedule instead of bursting; in-flight publishes are bounded', async () => {
    const h = harness({ speed: 1, maxInFlight: 4 });
    await h.sim.start();
    await flush();
    h.advance(5000); // a 5 s stall
    h.sim.tick();
    assert.equal(h.sim.readingsIssued, 2); // re-based: one more reading, not 250
    h.advance(200);
    h.sim.tick();
    // 10 readings are due, but reading 1 (2 sites) is still in flight: only one more reading fits under 4 publishes.
    assert.equal(h.sim.readingsIssued, 3);
    await flush();
    h.sim.tick();
    assert.equal(h.sim.readingsIssued, 5);
    await flush();
    await h.sim.stop();
  });

  test('readings that fall due while disconnected are dropped and counted; the clock goes on', async () => {
    const h = harness();
    await h.sim.start();
    h.transport.connected = false;
    h.advance(100);
    h.sim.tick();
    h.transport.connected = true;
    h.advance(20);
    h.sim.tick();
    await flush();
    const s = h.sim.stats()[0]!;
    assert.deepEqual([s.readingsIssued, s.readingsSent, s.readingsDropped], [7, 2, 5]);
    assert.deepEqual(h.transport.readings('sim/site-1/imu').map((x) => (x.ts - h.sim.t0) / 20), [0, 6]);
    await h.sim.stop();
  });

  test('publish failures are counted and reported, not thrown', async () => {
    const h = harness();
    h.transport.failNext = 1;
    await h.sim.start();
    await flush();
    assert.equal(h.errors.length, 1);
    assert.deepEqual(h.sim.stats().map((s) => [s.readingsSent, s.publishErrors]), [[0, 1], [1, 0]]);
    await h.sim.stop();
  });

  test('maxReadingsPerSite stops the stream and resolves finished', async () => {
    const h = harness({ speed: 100, maxReadingsPerSite: 30 });
    await h.sim.start();
    h.advance(1000);
    h.sim.tick();
    await h.sim.finished;
    assert.equal(h.sim.readingsIssued, 30);
    await h.sim.stop();
  });

  test('predictions on the subscribed topics are scored; scores are published as JSON; stop cleans up', async () => {
    const h = harness();
    await h.sim.start();
    h.advance(20 * 40);
    h.sim.tick(); // 41 readings: windows 0..4 of site-1 (labels 0,1,0,1,0)
    const handler = h.transport.handlers.get('sitekd/v1/site-1/+/predictions')!;
    const p = (k0: number, cls: number) => ({
      site: 'site-1', agent: 'gw-1', windowStart: h.sim.t0 + k0 * 20, cls, confidence: 0.6, probs: cls === 0 ? [0.6, 0.4] : [0.4, 0.6], modelVersion: 'v1', latencyMs: 1,
    });
    await handler(predictionsTopic('site-1', 'gw-1'), Buffer.from(encode(p(8, 1))));
    await handler(predictionsTopic('site-1', 'gw-1'), Buffer.from(JSON.stringify(p(16, 1))));
    await handler(predictionsTopic('site-1', 'gw-1'), Buffer.from('nonsense'));
    assert.equal(h.clock.pendingTimers, 2);
    h.sim.publishScores();
    await flush();
    const score = h.transport.published.filter((x) => x.topic === 'sim/site-1/score');
    assert.equal(score.length, 1);
    const s = JSON.parse(new TextDecoder().decode(score[0]!.payload)) as { models: { modelVersion: string; correct: number; total: number }[]; dropped: Record<string, number>; readingsSent: number };
    assert.deepEqual(s.models.map((m) => [m.modelVersion, m.correct, m.total]), [['v1', 1, 2]]);
    assert.deepEqual(s.dropped, { SITEKD_ERR_MSG_DECODE: 1 });
    assert.equal(s.readingsSent, 41);
    await h.sim.stop();
    assert.equal(h.clock.pendingTimers, 0);
    assert.deepEqual(h.transport.unsubscribed, ['sitekd/v1/site-1/+/predictions', 'sitekd/v1/site-2/+/predictions']);
    assert.equal(h.transport.published.filter((x) => x.topic === 'sim/site-1/score').length, 2); // the final score
  });

  test('invalid options are config errors', () => {
    const transport = new FakeTransport();
    const bad = (o: object): void => {
      assert.throws(() => new Simulator({ sites: [site('site-1', [0], 0)], transport, clock: new ManualClock(), ...o }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
    };
    bad({ speed: 0 });
    bad({ speed: Number.NaN });
    bad({ topicRoot: 'a/+' });
    bad({ topicRoot: '$SYS' });
    bad({ sites: [] });
    bad({ sites: [site('site-1', [0], 0), site('site-1', [0], 0)] });
  });

  test('deterministic: the same clock and sites give the same bytes', async () => {
    const run = async (): Promise<string[]> => {
      const h = harness({ speed: 3 });
      await h.sim.start();
      for (let i = 0; i < 10; i++) {
        h.advance(17);
        h.sim.tick();
      }
      await flush();
      await h.sim.stop();
      return h.transport.published.filter((p) => p.topic.endsWith('/imu')).map((p) => `${p.topic} ${new TextDecoder().decode(p.payload)}`);
    };
    assert.deepEqual(await run(), await run());
  });
});
