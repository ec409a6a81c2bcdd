/**
 * Sample return (docs/protocol.md "Returning samples"): batches go through the durable outbox, are re-sent under the
 * same batchId until acked, survive an agent restart and a broker restart in the middle of an upload, are deleted
 * only on an ack, and no window is ever in two batches.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { decode, encode } from '../../shared/protocol/codec';
import { SampleBatchSchema, type SampleBatch } from '../../shared/protocol/messages';
import { samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import { AGENT, createHarness, makeModel, SITE, sleep, waitFor, writeModelFile } from './agent-harness';

test('batches are uploaded, re-sent until acked, survive agent and broker restarts, and are never duplicated', async (t) => {
  const h = await createHarness(t);
  const received: Array<{ batch: SampleBatch; at: number }> = [];
  let acking = false;
  const ackedAt = new Map<string, number>();
  await h.hub.subscribe(
    samplesTopic(SITE, AGENT),
    (_topic, payload) => {
      const r = decode(SampleBatchSchema, payload);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      const batch = r.value;
      received.push({ batch, at: Date.now() });
      if (!acking) return;
      const duplicate = ackedAt.has(batch.batchId);
      if (!duplicate) ackedAt.set(batch.batchId, Date.now());
      void h.hub.publish(samplesAckTopic(SITE, AGENT), encode({ batchId: batch.batchId, stored: duplicate ? 0 : batch.n, duplicate }), { qos: 1 });
    },
    1,
  );
  const config = h.config({
    modelFile: writeModelFile(h.dir, makeModel('v1', 1)),
    upload: { intervalMs: 150, ackTimeoutMs: 700, budgetBytesPerMinute: 50_000_000, maxBatch: 3, maxInFlight: 8 },
  });
  const first = await h.start(config);
  const outboxDir = path.join(config.dataDir, 'outbox');
  const records = (): number => fs.readdirSync(outboxDir).filter((f) => f.endsWith('.rec')).length;

  // Two bursts of windows, one upload period apart: at least two batches.
  await h.publishReadings(1_700_000_000_000, 320);
  await sleep(400);
  await h.publishReadings(1_700_000_100_000, 320);
  await waitFor(() => new Set(received.map((r) => r.batch.batchId)).size >= 2, 5000, 'two batches uploaded');
  // Each cut takes what the period offered and clears the rest: after one more period no new batch appears.
  await sleep(300);
  await waitFor(() => new Set(received.map((r) => r.batch.batchId)).size === first.agent.snapshot().outbox.depth, 2000, 'every cut batch published');
  const ids = [...new Set(received.map((r) => r.batch.batchId))];
  for (const r of received) {
    assert.equal(r.batch.modelVersion, 'v1');
    assert.equal(r.batch.channels, 9);
    assert.equal(r.batch.windowLength, 128);
    assert.equal(r.batch.numClasses, 6);
  }
  // No ack yet: the same batch comes again after ackTimeoutMs, and nothing leaves the outbox.
  await waitFor(() => received.filter((r) => r.batch.batchId === ids[0]).length >= 2, 3000, 'a resend of the same batchId');
  assert.equal(first.agent.snapshot().outbox.depth, ids.length);
  assert.equal(records(), ids.length);

  // Agent restart in the middle of the upload: the outbox is on disk and is re-sent by the new process.
  await first.stop();
  assert.equal(records(), ids.length, 'unacked batches survive the stop');
  const second = await h.start(config);
  assert.equal(second.agent.snapshot().outbox.depth, ids.length);
  const afterRestart = received.length;
  await waitFor(() => ids.every((id) => received.slice(afterRestart).some((r) => r.batch.batchId === id)), 3000, 're-sent after restart');

  // Broker restart (retained state and sessions gone): the agent reconnects and sends them yet again.
  await h.restartBroker();
  const afterBroker = received.length;
  await waitFor(() => second.transport.connected && h.hub.connected, 5000, 'clients reconnected');
  await waitFor(() => ids.every((id) => received.slice(afterBroker).some((r) => r.batch.batchId === id)), 5000, 're-sent after the broker restart');

  // The hub acks: each batch is deleted exactly once, and acked batches are not sent again.
  acking = true;
  await waitFor(() => second.agent.snapshot().outbox.depth === 0, 5000, 'outbox emptied by acks');
  assert.equal(records(), 0);
  const lastAck = Math.max(...ackedAt.values());
  await sleep(900);
  assert.deepEqual(received.filter((r) => r.at > lastAck + 100 && ids.includes(r.batch.batchId)).map((r) => r.batch.batchId), [], 'no resend after the ack');
  assert.deepEqual([...ackedAt.keys()].sort(), ids.slice().sort(), 'every batch was acked');

  // No window is in two different batches, however often each batch was sent.
  const byId = new Map(received.map((r) => [r.batch.batchId, r.batch]));
  const starts = [...byId.values()].flatMap((b) => b.windowStarts);
  assert.equal(new Set(starts).size, starts.length, 'window starts are unique across batch ids');
  // An ack for a batch the agent no longer holds is ignored.
  await h.hub.publish(samplesAckTopic(SITE, AGENT), encode({ batchId: ids[0], stored: 0, duplicate: true }), { qos: 1 });
  await waitFor(() => second.agent.snapshot().uploader.unknownAcks >= 1, 3000, 'duplicate ack ignored');
});
