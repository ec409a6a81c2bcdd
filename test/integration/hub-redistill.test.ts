/**
 * On-demand redistillation over MQTT: a `redistill` command gets exactly one reply with the job id (a repeated
 * command id gets the same reply and no second job); the job's events on hub/jobs go queued → running (progress) →
 * done with a new signed version on the retained model topic, or rejected with the gate's reasons; the gate judges
 * only the uniformly sampled windows of the held-out batches; a site without enough windows, or whose agents do not
 * say how they chose them, is skipped with a reason; a missing current model fails the round with a code instead of
 * judging against the generic student; `sitekd redistill` prints the outcome; a scheduled slot missed while the hub
 * was down runs at the next start. The hub here holds out (`gateSplit: holdout`, 30 %): cross-fitted rounds are
 * tested in hub-round-cross-fit.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PassThrough } from 'node:stream';
import type { Clock } from '../../shared/clock';
import { decode, encode } from '../../shared/protocol/codec';
import { HubReplySchema, JobEventSchema, ModelManifestSchema, type JobEvent, type ModelManifest } from '../../shared/protocol/messages';
import { verifyManifest } from '../../shared/protocol/signing';
import { hubCmdTopic, hubJobsTopic, modelTopic, replyTopic, samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import { redistillCommand } from '../../hub/cli/redistill';
import { isHeldOut } from '../../hub/store/sample-store';
import type { Hub } from '../../hub/hub';
import { runMlTask, type MlRunner } from '../../hub/worker/ml-runner';
import type { RedistillOutput } from '../../hub/worker/ml-worker-protocol';
import { offsetClock } from '../helpers/manual-clock';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

const HALF_UNIFORM = [0, 1, 0, 1, 1, 0] as const;
let fx: Fixture;
let hub: Hub | undefined;
let ops: MqttTransport;
const events: JobEvent[] = [];
const replies: Array<{ id: string; ok: boolean; result?: Record<string, unknown>; error?: { code: string } }> = [];
const manifests = new Map<string, ModelManifest>();
const logs: string[] = [];

before(async () => {
  fx = makeFixture('redistill');
  hub = await startHub(fx.config({ sites: ['site-1', 'site-2'], gateSplit: 'holdout' }), logs);
  ops = await connectClient(hub.url, 'ops-1');
  await ops.subscribe(hubJobsTopic(), (_t, p) => {
    const r = decode(JobEventSchema, p);
    assert.ok(r.ok, 'job events are valid JobEvents');
    events.push(r.value);
  });
  await ops.subscribe(replyTopic('ops-1'), (_t, p) => {
    const r = decode(HubReplySchema, p);
    assert.ok(r.ok);
    replies.push(r.value as (typeof replies)[number]);
  });
  await ops.subscribe('sitekd/v1/+/model', (_t, p) => {
    const r = decode(ModelManifestSchema, p);
    if (r.ok) manifests.set(r.value.site, r.value);
  });
  // Batches of 6 windows of site-1's train split, as an agent would return them: half sampled uniformly, half for
  // uncertainty.
  const agent = await connectClient(hub.url, 'gw-1');
  try {
    let acked = 0;
    await agent.subscribe(samplesAckTopic('site-1', 'gw-1'), () => {
      acked++;
    });
    const batches = Math.floor(fx.domains[1]!.train.n / 6);
    for (let b = 0; b < batches; b++) {
      const batch = makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: `gw-1-${String(b).padStart(9, '0')}`, from: b * 6, n: 6, selectedBy: HALF_UNIFORM });
      await agent.publish(samplesTopic('site-1', 'gw-1'), encode(batch), { qos: 1 });
    }
    await waitFor(`${batches} acks`, () => acked === batches);
  } finally {
    await agent.close(true);
  }
});

after(async () => {
  await ops?.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

function final(jobId: string): JobEvent | undefined {
  return events.find((e) => e.jobId === jobId && ['done', 'rejected', 'failed', 'skipped'].includes(e.state));
}

test('redistill over hub/cmd: one reply per command id, job events, a new signed version or a reasoned rejection', async () => {
  const cmd = encode({ id: 'c-1', cmd: 'redistill', site: 'site-1', replyTo: replyTopic('ops-1') });
  await ops.publish(hubCmdTopic(), cmd, { qos: 1 });
  await ops.publish(hubCmdTopic(), cmd, { qos: 1 }); // a QoS 1 redelivery: same reply, no second job
  await waitFor('two replies', () => replies.length >= 2);
  assert.deepEqual(replies[0], replies[1]);
  const jobId = replies[0]?.result?.['jobId'];
  assert.equal(typeof jobId, 'string');
  assert.equal(replies[0]?.ok, true);
  const end = await waitFor('the job to finish', () => final(jobId as string), 60_000);
  const mine = events.filter((e) => e.jobId === jobId);
  assert.deepEqual([...new Set(mine.map((e) => e.state))].slice(0, 2), ['queued', 'running']);
  assert.ok(mine.some((e) => e.state === 'running' && e.progress !== undefined && e.progress > 0.05), 'progress is reported');
  assert.ok(['done', 'rejected'].includes(end.state), `${end.state}: ${end.message}`);
  assert.equal(end.trigger, 'command');
  assert.ok(end.result?.candidateAgreement !== undefined && end.result.currentAgreement !== undefined);
  assert.ok((end.result?.windows ?? 0) > 16);
  // The gate judged exactly the uniformly sampled windows of the held-out batches (30 %), with its figures.
  const heldOutBatches = Array.from({ length: Math.floor(fx.domains[1]!.train.n / 6) }, (_, b) => `gw-1-${String(b).padStart(9, '0')}`).filter((id) => isHeldOut(id, 0.3));
  const judged = heldOutBatches.length * 3;
  assert.ok(judged >= 6, `the fixture holds out ${heldOutBatches.length} batches: too few for a batch split`);
  assert.match(end.message ?? '', new RegExp(`teacher agreement on ${judged} held-out windows: .*discordant: candidate alone \\d+, current alone \\d+ \\(McNemar exact p = [0-9.]+\\); candidate − current ≥ `));
  assert.ok(logs.some((l) => l.includes('redistill round finished') && l.includes(`agreement on ${judged} held-out windows`)), 'the hub log names the figures');
  if (end.state === 'done') {
    const m = await waitFor('the new manifest', () => (manifests.get('site-1')?.version === end.result?.version ? manifests.get('site-1') : undefined));
    assert.match(m.version, /^2-[0-9a-f]{8}$/);
    assert.equal(m.algorithm, 'site-adapt', 'what made it, as the artifact says');
    assert.ok(verifyManifest(m, fs.readFileSync(`${fx.stateDir}/keys/hub-ed25519.pub.pem`, 'utf8')).ok);
    assert.equal(m.metrics['candidateAgreement'], end.result?.candidateAgreement);
  } else {
    assert.match(manifests.get('site-1')?.version ?? '', /^1-/, 'a rejected candidate is not published');
  }
  assert.equal(events.filter((e) => e.state === 'queued').length, 1, 'the repeated command did not queue a second job');
});

test('a site without enough windows is skipped with the reason', async () => {
  await ops.publish(hubCmdTopic(), encode({ id: 'c-2', cmd: 'redistill', site: 'site-2', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const reply = await waitFor('reply c-2', () => replies.find((r) => r.id === 'c-2'));
  const end = await waitFor('skip', () => final(reply.result?.['jobId'] as string));
  assert.equal(end.state, 'skipped');
  assert.match(end.message ?? '', /too few windows: 0 to train on/);
});

test('with too few batches for a batch-level split, single windows are held out instead of skipping', async () => {
  // Two batches of 24 windows whose ids both land on the training side of a 30 % batch split.
  const ids: string[] = [];
  for (let k = 0; ids.length < 2; k++) if (!isHeldOut(`gw-3-big${String(k).padStart(5, '0')}`, 0.3)) ids.push(`gw-3-big${String(k).padStart(5, '0')}`);
  const agent = await connectClient((hub as Hub).url, 'gw-3');
  let acked = 0;
  await agent.subscribe(samplesAckTopic('site-3', 'gw-3'), () => {
    acked++;
  });
  for (const [b, id] of ids.entries()) {
    await agent.publish(samplesTopic('site-3', 'gw-3'), encode(makeBatch(fx.domains[2]!, { site: 'site-3', agent: 'gw-3', batchId: id, from: b * 24, n: 24 })), { qos: 1 });
  }
  await waitFor('2 acks', () => acked === 2);
  await agent.close(true);
  await ops.publish(hubCmdTopic(), encode({ id: 'c-7', cmd: 'redistill', site: 'site-3', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const reply = await waitFor('reply c-7', () => replies.find((r) => r.id === 'c-7'));
  const end = await waitFor('end of the site-3 round', () => final(reply.result?.['jobId'] as string), 60_000);
  assert.ok(['done', 'rejected'].includes(end.state), `${end.state}: ${end.message}`);
  assert.ok(events.some((e) => e.jobId === reply.result?.['jobId'] && /held out by window/.test(e.message ?? '')));
});

test('unknown sites and bad commands: ok=false with a code, or no reply at all', async () => {
  await ops.publish(hubCmdTopic(), encode({ id: 'c-3', cmd: 'redistill', site: 'site-zz', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const r = await waitFor('reply c-3', () => replies.find((x) => x.id === 'c-3'));
  assert.equal(r.ok, false);
  assert.equal(r.error?.code, 'SITEKD_ERR_SITE_UNKNOWN');
  await ops.publish(hubCmdTopic(), Buffer.from(JSON.stringify({ id: 'c-4', cmd: 'sites', replyTo: replyTopic('ops-1') })), { qos: 1 });
  const sites = await waitFor('reply c-4', () => replies.find((x) => x.id === 'c-4'));
  assert.deepEqual((sites.result?.['sites'] as Array<{ site: string }>).map((s) => s.site), ['site-1', 'site-2', 'site-3']);
});

test('windows from agents that do not say how they chose them are stored but never judged on', async () => {
  const agent = await connectClient((hub as Hub).url, 'gw-4');
  let acked = 0;
  await agent.subscribe(samplesAckTopic('site-4', 'gw-4'), () => {
    acked++;
  });
  const ids = Array.from({ length: 8 }, (_, b) => `gw-4-old${String(b).padStart(5, '0')}`);
  assert.ok(ids.some((id) => isHeldOut(id, 0.3)), 'some batch lands on the held-out side');
  for (const [b, id] of ids.entries()) {
    await agent.publish(samplesTopic('site-4', 'gw-4'), encode(makeBatch(fx.domains[2]!, { site: 'site-4', agent: 'gw-4', batchId: id, from: b * 6, n: 6, selectedBy: null })), { qos: 1 });
  }
  await waitFor('8 acks', () => acked === 8);
  await agent.close(true);
  await ops.publish(hubCmdTopic(), encode({ id: 'c-9', cmd: 'redistill', site: 'site-4', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const reply = await waitFor('reply c-9', () => replies.find((r) => r.id === 'c-9'));
  const end = await waitFor('skip', () => final(reply.result?.['jobId'] as string));
  assert.equal(end.state, 'skipped', end.message);
  assert.match(end.message ?? '', /and 0 uniformly sampled held out \(need 6\)/);
});

test('sitekd redistill prints the outcome as JSON', async () => {
  assert.ok(hub !== undefined);
  const out = new PassThrough();
  const err = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  err.resume();
  const code = await redistillCommand.run(['--site', 'site-1', '--broker', hub.url, '--json', '--timeout', '60'], { stdout: out, stderr: err, env: {} });
  const res = JSON.parse(text) as { site: string; state: string; jobId: string; result: { candidateAgreement?: number } | null };
  assert.equal(res.site, 'site-1');
  assert.ok(['done', 'rejected'].includes(res.state));
  assert.equal(code, res.state === 'done' ? 0 : 2);
  assert.ok(res.result?.candidateAgreement !== undefined);
});

async function restart(overrides: Parameters<Fixture['config']>[0], opts: { clock?: Clock; run?: MlRunner } = {}): Promise<Hub> {
  await hub?.stop();
  hub = await startHub(fx.config({ sites: ['site-1', 'site-2'], gateSplit: 'holdout', ...overrides }), logs, opts);
  await ops.close(true);
  ops = await connectClient(hub.url, 'ops-1');
  await ops.subscribe(hubJobsTopic(), (_t, p) => {
    const r = decode(JobEventSchema, p);
    if (r.ok) events.push(r.value);
  });
  await ops.subscribe(replyTopic('ops-1'), (_t, p) => {
    const r = decode(HubReplySchema, p);
    if (r.ok) replies.push(r.value as (typeof replies)[number]);
  });
  await ops.subscribe('sitekd/v1/+/model', (_t, p) => {
    const r = decode(ModelManifestSchema, p);
    if (r.ok) manifests.set(r.value.site, r.value);
  });
  return hub;
}

/**
 * The real worker, but its judge says the candidate agrees with the reference on every held-out window and the current
 * student on none: the publish path is tested whatever one tiny epoch achieved (fault injection at the gate's input).
 */
const candidateAlwaysWins: MlRunner = async (task, opts) => {
  const out = await runMlTask(task, opts);
  if (task.kind !== 'redistill') return out;
  const r = out as RedistillOutput;
  const n = r.evaluation.heldOut;
  const agrees = { candidate: new Uint8Array(n).fill(1), current: new Uint8Array(n) };
  return { ...r, evaluation: { ...r.evaluation, agrees, candidateAgreement: 1, currentAgreement: 0 } } as typeof out;
};

test('a candidate that passes the gate is signed and published as the next version', async () => {
  const h = await restart({}, { run: candidateAlwaysWins });
  await ops.publish(hubCmdTopic(), encode({ id: 'c-6', cmd: 'redistill', site: 'site-1', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const reply = await waitFor('reply c-6', () => replies.find((r) => r.id === 'c-6'));
  const end = await waitFor('done', () => final(reply.result?.['jobId'] as string), 60_000);
  assert.equal(end.state, 'done', end.message);
  const version = end.result?.version ?? '';
  assert.match(version, /^2-[0-9a-f]{8}$/);
  const m = await waitFor('the new manifest', () => (manifests.get('site-1')?.version === version ? manifests.get('site-1') : undefined));
  assert.equal(m.algorithm, 'site-adapt', 'what made it, as the artifact says');
  assert.ok(verifyManifest(m, fs.readFileSync(`${fx.stateDir}/keys/hub-ed25519.pub.pem`, 'utf8')).ok);
  assert.equal(m.metrics['candidateAgreement'], end.result?.candidateAgreement);
  // The previous version's retained chunks are cleared once the new manifest is out.
  const stale: string[] = [];
  const probe = await connectClient(h.url, 'probe');
  await probe.subscribe('sitekd/v1/site-1/model/+/chunk/+', (topic, p) => {
    if (p.length > 0 && !topic.includes(`/${version}/`)) stale.push(topic);
  });
  await new Promise((r) => setTimeout(r, 300));
  await probe.close(true);
  assert.deepEqual(stale, []);
});

test('a missing file of the current model fails the round with a code instead of judging against the generic student', async () => {
  const version = manifests.get('site-1')?.version ?? assert.fail('site-1 has no model');
  const file = path.join(fx.stateDir, 'models', 'sites', 'site-1', `${version}.skdm`);
  fs.renameSync(file, `${file}.away`);
  try {
    await ops.publish(hubCmdTopic(), encode({ id: 'c-8', cmd: 'redistill', site: 'site-1', replyTo: replyTopic('ops-1') }), { qos: 1 });
    const reply = await waitFor('reply c-8', () => replies.find((r) => r.id === 'c-8'));
    const end = await waitFor('the end of the round', () => final(reply.result?.['jobId'] as string), 60_000);
    assert.equal(end.state, 'failed', end.message);
    assert.match(end.message ?? '', new RegExp(`^SITEKD_ERR_MODEL_MISSING: site site-1 runs ${version}`));
    assert.ok(logs.some((l) => l.includes('redistill failed') && l.includes('SITEKD_ERR_MODEL_MISSING')), 'logged with its code');
    assert.equal(manifests.get('site-1')?.version, version, 'nothing was published');
  } finally {
    fs.renameSync(`${file}.away`, file);
  }
});

test('a scheduled slot missed while the hub was down runs at the next start', async () => {
  // More windows arrive, then the hub comes back "two minutes later" with a schedule of every minute.
  const agent = await connectClient((hub as Hub).url, 'gw-1');
  let acked = 0;
  await agent.subscribe(samplesAckTopic('site-1', 'gw-1'), () => {
    acked++;
  });
  for (let b = 0; b < 3; b++) {
    const batch = makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: `gw-1-late-${b}0000`, from: b * 6, n: 6 });
    await agent.publish(samplesTopic('site-1', 'gw-1'), encode(batch), { qos: 1 });
  }
  await waitFor('3 acks', () => acked === 3);
  await agent.close(true);
  const seen = events.length;
  await restart({ schedule: '* * * * *', minNewWindows: 1 }, { clock: offsetClock(120_000) });
  await waitFor('the catch-up round', () => events.slice(seen).find((e) => e.trigger === 'startup' && ['done', 'rejected', 'skipped', 'failed'].includes(e.state)), 60_000);
  assert.ok(logs.some((l) => l.includes('redistill queued') && l.includes('"trigger":"startup"')));
});
