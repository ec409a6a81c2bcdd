/**
 * Backpressure of sample ingest (hub/mqtt/inbound.ts): with more batches pending than `ingestMaxPending`, the hub acks
 * a new one at once with SITEKD_ERR_HUB_BUSY and a `retryAfterMs`, stores nothing of it, and takes it when it is
 * sent again; every batch ends up stored exactly once. `/metrics` counts the busy answers (`sitekd_ingest_busy_total`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ErrorCode } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { SampleAckSchema, type SampleAck } from '../../shared/protocol/messages';
import { samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

let fx: Fixture;
let hub: Hub | undefined;
let agent: MqttTransport;
const acks: SampleAck[] = [];

before(async () => {
  fx = makeFixture('backpressure');
  hub = await startHub(fx.config({ sites: ['site-1'], ingestMaxPending: 1, ingestRetryAfterMs: 300, httpPort: 0 }));
  agent = await connectClient(hub.url, 'gw-1');
  await agent.subscribe(samplesAckTopic('site-1', 'gw-1'), (_t, p) => {
    const r = decode(SampleAckSchema, p);
    assert.ok(r.ok, 'acks are valid SampleAcks');
    acks.push(r.value);
  });
});

after(async () => {
  await agent?.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

test('a full ingest answers busy with a retry time, and the batches sent again are each stored once', async () => {
  const ids = Array.from({ length: 30 }, (_, i) => `gw-1-bp${String(i).padStart(6, '0')}`);
  const payload = new Map(ids.map((id, i) => [id, encode(makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: id, from: i % 8, n: 2 }))]));
  const send = (id: string): Promise<void> => agent.publish(samplesTopic('site-1', 'gw-1'), payload.get(id) as Uint8Array, { qos: 1 });
  await Promise.all(ids.map(send)); // all at once: more than one is pending while the first commits
  const stored = new Set<string>();
  const seen = new Set<SampleAck>();
  let busy = 0;
  await waitFor('every batch stored', () => {
    for (const a of acks.filter((x) => !seen.has(x))) {
      seen.add(a);
      if (a.error?.code === ErrorCode.HUB_BUSY) {
        busy++;
        assert.equal(a.stored, 0);
        assert.ok(a.retryAfterMs !== undefined && a.retryAfterMs >= 225 && a.retryAfterMs <= 375, `retryAfterMs ${String(a.retryAfterMs)}`);
        setTimeout(() => void send(a.batchId), a.retryAfterMs);
      } else {
        assert.equal(a.error, undefined);
        assert.equal(a.duplicate, false, `${a.batchId} is stored once, never acked as a duplicate here`);
        assert.ok(!stored.has(a.batchId));
        stored.add(a.batchId);
      }
    }
    return stored.size === ids.length;
  }, 30_000);
  assert.ok(busy > 0, 'the hub said busy at least once');
  const res = await fetch(`http://127.0.0.1:${hub?.httpPort as number}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(sampleValue(parsePrometheusText(await res.text()), 'sitekd_ingest_busy_total', {}), busy, 'every busy answer is counted');
});
