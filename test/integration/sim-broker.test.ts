/**
 * The simulator against a broker: readings arrive as plain JSON a third-party client can read, predictions published
 * by another client are scored, and the `sitekd sim` command runs end to end. The broker is an embedded aedes started
 * here, or the one SITEKD_TEST_MQTT_URL names (CI: an anonymous Mosquitto on 127.0.0.1, see .ci/run).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/mqtt/broker';
import { simCommand } from '../../sim/cli';
import { Simulator } from '../../sim/simulator';
import { loadSimSites } from '../../sim/sources';
import { systemClock } from '../../shared/clock';
import { defaultSyntheticSpec } from '../../shared/data/synthetic';
import { encode } from '../../shared/protocol/codec';
import type { Prediction } from '../../shared/protocol/messages';
import { predictionsTopic } from '../../shared/protocol/topics';
import { MqttTransport } from '../../shared/transport/mqtt-transport';

const spec = { ...defaultSyntheticSpec.harLike, trainPerClass: 2, testPerClass: 3 };

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const external = process.env['SITEKD_TEST_MQTT_URL'];
let broker: EmbeddedBroker | undefined;
let url: string;
before(async () => {
  if (external === undefined) broker = await startEmbeddedBroker({ port: 0, security: 'anonymous' });
  url = external ?? (broker as EmbeddedBroker).url;
});
after(async () => {
  await broker?.close();
});

describe(`sim over ${external === undefined ? 'the embedded aedes broker' : external}`, () => {
  test('readings arrive as JSON {ts, values[9]} with increasing ts; predictions (msgpack and JSON) are scored', async () => {
    // The simulator's client negotiates like `sitekd sim` does ('auto': MQTT 5, then 3.1.1 for aedes, ~1 s); the
    // plain clients standing in for mosquitto_sub and an agent speak 3.1.1 directly.
    const [listener, sim1, agent] = await Promise.all([
      MqttTransport.connect({ url, clientId: 'sim-test-listener', protocol: 4 }),
      MqttTransport.connect({ url, clientId: 'sim-test-sim', protocol: 'auto' }),
      MqttTransport.connect({ url, clientId: 'sim-test-agent', protocol: 4 }),
    ]);
    const readings = new Map<string, { ts: number; values: unknown }[]>();
    const scores: Record<string, unknown>[] = [];
    let bad = 0;
    await listener.subscribe('sim/+/imu', (topic, payload) => {
      try {
        const r = JSON.parse(payload.toString('utf8')) as { ts: number; values: unknown };
        const list = readings.get(topic) ?? [];
        list.push(r);
        readings.set(topic, list);
      } catch {
        bad++;
      }
    }, 0);
    await listener.subscribe('sim/+/score', (_topic, payload) => {
      scores.push(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
    }, 0);

    const { sites } = loadSimSites({ sites: 2, synthetic: true, syntheticSpec: spec });
    const sim = new Simulator({ sites, transport: sim1, speed: 40, scoreIntervalMs: 200, clock: systemClock });
    try {
      await sim.start();
      await new Promise((r) => setTimeout(r, 1000));
      await waitFor('readings', () => (readings.get('sim/site-2/imu')?.length ?? 0) > 500);
      assert.equal(bad, 0);
      for (const site of ['site-1', 'site-2']) {
        const list = readings.get(`sim/${site}/imu`) ?? [];
        assert.ok(list.length > 500, `${site}: ${list.length} readings`);
        for (let i = 0; i < list.length; i++) {
          const r = list[i]!;
          assert.equal(typeof r.ts, 'number');
          assert.ok(Array.isArray(r.values) && r.values.length === 9 && r.values.every((v) => typeof v === 'number' && Number.isFinite(v)));
          assert.equal(r.ts, sim.t0 + i * 20, `${site} reading ${i}`);
        }
      }
      // The values are the site's stream, channel by channel.
      const tenth = readings.get('sim/site-1/imu')![10]!.values as number[];
      assert.deepEqual(tenth.map((v) => Math.fround(v)), [...sites[0]!.stream.valuesAt(10)]);

      // Fake agent predictions: two right (msgpack, JSON), one wrong, one from a newer model, and garbage.
      const stream = sites[0]!.stream;
      const truth = (k0: number): number => {
        const m = stream.majorityLabel(k0, 128);
        assert.ok(m !== undefined && m.kind === 'label');
        return m.label;
      };
      const pred = (k0: number, cls: number, modelVersion: string): Prediction => {
        const probs = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
        probs[cls] = 0.5;
        return { site: 'site-1', agent: 'gw-1', windowStart: sim.t0 + k0 * 20, cls, confidence: 0.5, probs, modelVersion, latencyMs: 3 };
      };
      const topic = predictionsTopic('site-1', 'gw-1');
      await agent.publish(topic, encode(pred(0, truth(0), 's-1-0001')));
      await agent.publish(topic, Buffer.from(JSON.stringify(pred(128, truth(128), 's-1-0001'))));
      await agent.publish(topic, encode(pred(256, (truth(256) + 1) % 6, 's-1-0001')));
      await agent.publish(topic, encode(pred(384, truth(384), 's-1-0002')));
      await agent.publish(topic, Uint8Array.from([1, 2, 3]));
      await waitFor('scored predictions', () => {
        const s = sim.scoreboard.summary('site-1')!;
        return s.predictions === 4 && Object.keys(s.dropped).length > 0;
      });
      const s = sim.scoreboard.summary('site-1')!;
      assert.deepEqual(
        s.models.map((m) => [m.modelVersion, m.correct, m.total]),
        [
          ['s-1-0001', 2, 3],
          ['s-1-0002', 1, 1],
        ],
      );
      assert.equal(s.modelVersion, 's-1-0002');
      assert.equal(Object.values(s.dropped).reduce((a, b) => a + b, 0), 1);
      assert.equal(sim.scoreboard.summary('site-2')!.predictions, 0);

      // Score summaries are published as JSON.
      await waitFor('a score with the predictions', () => scores.some((x) => x.site === 'site-1' && x.predictions === 4));
      const last = scores.filter((x) => x.site === 'site-1').at(-1)!;
      assert.equal(last.source, 'synthetic');
      assert.ok((last.readingsSent as number) > 500);
    } finally {
      await sim.stop();
      await Promise.all([listener.close(), sim1.close(), agent.close()]);
    }
  });

  test('`sitekd sim` runs for --duration against a broker and prints per-site lines', async () => {
    let err = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        err += chunk.toString();
        cb();
      },
    });
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const seen: string[] = [];
    const listener = await MqttTransport.connect({ url, clientId: 'sim-test-cli-listener', protocol: 4 });
    await listener.subscribe('plant/#', (topic, payload) => {
      if (seen.length < 5) seen.push(`${topic} ${payload.toString('utf8')}`);
    }, 0);
    try {
      const code = await simCommand.run(
        ['--sites', '1', '--synthetic', '--broker', url, '--speed', '10', '--duration', '0.5', '--format', 'csv', '--topic-root', 'plant', '--print-interval', '0'],
        { stdout: out, stderr: sink, env: {} },
      );
      assert.equal(code, 0);
      assert.match(err, /sitekd sim: 1 site\(s\) from synthetic/);
      assert.match(err, /site-1 +synthetic site-1 +sent +\d+/);
      await waitFor('csv readings', () => seen.length >= 2);
      assert.match(seen[0]!, /^plant\/site-1\/imu \d+(,-?[0-9.e+-]+){9}$/);
    } finally {
      await listener.close();
    }
  });
});
