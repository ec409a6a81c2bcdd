/**
 * How each returned window was chosen travels agent → MQTT → hub → sample store → read (issue 7 §3): a real agent
 * (real tfjs, its SampleSelector with half its batch sampled uniformly) and a real hub on one aedes broker. Every
 * window the hub stored carries the `selectedBy` its batch had on the wire, also after the hub restarts, and the
 * held-out set the gate judges on is exactly the uniformly sampled windows of the held-out batches.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { decode } from '../../shared/protocol/codec';
import { SampleBatchSchema, SELECTED_BY, type SampleBatch } from '../../shared/protocol/messages';
import { samplesTopic } from '../../shared/protocol/topics';
import { isHeldOut, SampleStore } from '../../hub/store/sample-store';
import { AGENT, createHarness, makeModel, SITE, waitFor, writeModelFile } from './agent-harness';
import { makeFixture, startHub } from './hub-fixture';

const T0 = 1_700_000_000_000;

test('selectedBy of every window survives agent → MQTT → hub → store → read, and only uniform ones are held out', async (t) => {
  const h = await createHarness(t);
  const fx = makeFixture('provenance');
  t.after(() => fx.cleanup());
  const logs: string[] = [];
  const hub = await startHub(fx.config({ broker: h.broker.url, clientId: 'hub-under-test', sites: [SITE] }), logs);
  let hubStopped = false;
  t.after(async () => {
    if (!hubStopped) await hub.stop();
  });
  // What went over the wire, as an observer sees it.
  const wire = new Map<string, SampleBatch>();
  await h.hub.subscribe(samplesTopic(SITE, AGENT), (_topic, payload) => {
    const r = decode(SampleBatchSchema, payload);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    wire.set(r.value.batchId, r.value);
  }, 1);

  const agent = await h.start(h.config({
    modelFile: writeModelFile(h.dir, makeModel('v1', 1)),
    upload: { intervalMs: 150, budgetBytesPerMinute: 50_000_000, maxBatch: 6, randomShare: 0.5 },
  }));
  for (let k = 0; k < 6; k++) {
    await h.publishReadings(T0 + k * 1_000_000, 64 * 10);
    await new Promise((r) => setTimeout(r, 200));
  }
  const settled = (): boolean => {
    const s = agent.agent.snapshot();
    return s.uploader.batchesCut >= 4 && s.uploader.acked === s.uploader.batchesCut && s.outbox.depth === 0;
  };
  await waitFor(settled, 10_000, 'at least 4 batches cut, sent and acked by the hub');
  await agent.stop();
  await hub.stop();
  hubStopped = true;

  const codes = [...wire.values()].flatMap((b) => b.selectedBy ?? []);
  assert.ok(codes.includes(0) && codes.includes(1), `the agent sent both kinds: ${codes.join('')}`);
  assert.equal(codes.length, [...wire.values()].reduce((sum, b) => sum + b.n, 0), 'one code per window');

  // The store as the hub left it on disk, opened again (as after a hub restart).
  const store = await SampleStore.open(path.join(fx.stateDir, 'samples'), { now: () => Date.now() });
  t.after(() => store.close());
  const set = await store.read(SITE);
  assert.equal(set.n, codes.length, 'every window sent was stored once');
  for (let i = 0; i < set.n; i++) {
    const b = wire.get(set.batchIds[i] as string) ?? assert.fail(`stored batch ${set.batchIds[i]} never went over the wire`);
    const k = b.windowStarts.indexOf(set.windowStarts[i] as number);
    assert.ok(k >= 0, `window ${i} of ${b.batchId}`);
    assert.equal(set.selectedBy[i], SELECTED_BY[(b.selectedBy ?? [])[k] as 0 | 1], `window ${i} of ${b.batchId}`);
  }

  // Batch ids are random, so which batches a fraction holds out varies; at 1 every batch is on the held-out side.
  for (const fraction of [0.5, 1]) {
    const split = await store.split(SITE, fraction);
    const held = set.batchIds.map((id) => isHeldOut(id, fraction));
    assert.deepEqual(split.heldOut.seq, set.seq.filter((_, i) => held[i] && set.selectedBy[i] === 'uniform'), `${fraction}`);
    assert.equal(split.setAside, held.filter((x, i) => x && set.selectedBy[i] !== 'uniform').length, `${fraction}`);
    assert.deepEqual(split.train.seq, set.seq.filter((_, i) => !held[i]), `${fraction}`);
  }
  const all = await store.split(SITE, 1);
  assert.equal(all.heldOut.n, codes.filter((c) => c === 0).length, 'every uniform window, and only those');
  assert.equal(all.setAside, codes.filter((c) => c === 1).length);
});
