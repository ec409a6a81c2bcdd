/**
 * Data hygiene before training (issue 8, finding 3): a batch of finite but extreme windows (3e38, a valid float32) is
 * acked and stored like any other; before the store's plausibility check it made every round of its site fail with
 * non-finite weights for as long as it was stored. Now the round quarantines it (moved aside on disk, with a note),
 * counts and logs it, and trains on the rest; the next round does not meet it again.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { encode, f32ToBytes } from '../../shared/protocol/codec';
import type { HubReply, JobEvent } from '../../shared/protocol/messages';
import { hubCmdTopic, replyTopic, samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, watchJobsAndReplies, type Fixture } from './hub-fixture';

const HALF_UNIFORM = [0, 1, 0, 1, 1, 0] as const;
let fx: Fixture;
let hub: Hub;
let ops: MqttTransport;
const logs: string[] = [];
const events: JobEvent[] = [];
const replies: HubReply[] = [];

before(async () => {
  fx = makeFixture('hygiene');
  hub = await startHub(fx.config({ sites: ['site-1'] }), logs);
  ops = await connectClient(hub.url, 'ops-1');
  await watchJobsAndReplies(ops, 'ops-1', events, replies);
  let acked = 0;
  await ops.subscribe(samplesAckTopic('site-1', 'gw-1'), () => void acked++);
  const d = fx.domains[1]!;
  const batches = Math.floor(d.train.n / 6);
  for (let b = 0; b < batches; b++) {
    const batch = makeBatch(d, { site: 'site-1', agent: 'gw-1', batchId: `gw-1-${String(b).padStart(9, '0')}`, from: b * 6, n: 6, selectedBy: HALF_UNIFORM });
    await ops.publish(samplesTopic('site-1', 'gw-1'), encode(batch), { qos: 1 });
  }
  // The poisoned batch: real windows with a run of 3e38 in one channel (finite in float32: the wire accepts it).
  const poisoned = makeBatch(d, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-poisoned01', from: 0, n: 6, selectedBy: HALF_UNIFORM });
  const w = new Float32Array(poisoned.windows.buffer.slice(poisoned.windows.byteOffset, poisoned.windows.byteOffset + poisoned.windows.byteLength));
  for (let i = 0; i < w.length; i += 9) w[i] = 3e38;
  await ops.publish(samplesTopic('site-1', 'gw-1'), encode({ ...poisoned, windows: f32ToBytes(w) }), { qos: 1 });
  await waitFor('every batch acked', () => acked === batches + 1);
});

after(async () => {
  await ops?.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

async function round(id: string): Promise<JobEvent> {
  await ops.publish(hubCmdTopic(), encode({ id, cmd: 'redistill', site: 'site-1', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const reply = await waitFor('the reply', () => replies.find((r) => r.id === id));
  const jobId = reply.result?.['jobId'] as string;
  return await waitFor('the job end', () => events.find((e) => e.jobId === jobId && ['done', 'rejected', 'failed', 'skipped'].includes(e.state)), 90_000);
}

test('a poisoned batch is quarantined before training and the round goes on without it', async () => {
  const end = await round('c-1');
  assert.ok(['done', 'rejected'].includes(end.state), `${end.state}: ${end.message}`);
  const qdir = path.join(fx.stateDir, 'samples', 'quarantine');
  const files = fs.readdirSync(qdir, { recursive: true }).map(String).sort();
  assert.equal(files.filter((f) => f.endsWith('.seg')).length, 1, files.join());
  const note = JSON.parse(fs.readFileSync(path.join(qdir, files.find((f) => f.endsWith('.seg.json')) as string), 'utf8')) as Record<string, unknown>;
  assert.equal(note['batchId'], 'gw-1-poisoned01');
  assert.equal(note['code'], 'SITEKD_ERR_SAMPLES_IMPLAUSIBLE');
  assert.ok(logs.some((l) => l.startsWith('warn sample batch quarantined') && l.includes('gw-1-poisoned01')), logs.join('\n'));
  assert.equal((hub.stats()['store'] as { implausible: number }).implausible, 1);
  await ops.publish(hubCmdTopic(), encode({ id: 's-1', cmd: 'status', site: 'site-1', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const status = await waitFor('the status reply', () => replies.find((r) => r.id === 's-1'));
  assert.equal(status.result?.['quarantinedBatches'], 1);
  // The next round neither fails nor meets the batch again; a resend of it is a duplicate, not stored anew.
  const next = await round('c-2');
  assert.ok(['done', 'rejected'].includes(next.state), `${next.state}: ${next.message}`);
  assert.equal((hub.stats()['store'] as { implausible: number }).implausible, 1);
});
