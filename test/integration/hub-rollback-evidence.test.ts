/**
 * Rollback on evidence (issue 7 part 4): a round publishes a deliberately bad student (it always says a class the
 * hub's teacher never predicts on the site's windows), a real agent takes it, and sample batches return fresh,
 * uniformly sampled windows of the site with the logits of what their agent serves. The hub's rollout watch runs the
 * new student, the one it replaced and the teacher on them in its ML worker: an agent whose logits are not the new
 * student's is left out (at the first look too few windows remain: it waits), then the replaced student agrees with
 * the teacher on far more windows and the hub rolls the site back with the figures in the reason (the hub is restarted
 * between the two looks: the watch, its looks and its window count survive). The agent ends on
 * the previous version, installed from the signed rollback manifest; the rollback is a JobEvent (`evidence`) and the
 * site's model history marks the bad version rolled back.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { cnnFromArtifact, decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { argmaxRows, predictLogits } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { encode, f32ToBytes } from '../../shared/protocol/codec';
import type { SampleBatch } from '../../shared/protocol/messages';
import { verifyManifest } from '../../shared/protocol/signing';
import { samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import { channelsFirstToLast } from '../../hub/store/windows';
import { waitFor as waitUntil } from './agent-harness';
import { waitFor } from './hub-fixture';
import { constantClassStudent, forcedRound, SITE, startWorld, type RollbackWorld } from './rollback-fixture';

/** Windows `from … from+n-1` of `ws`. */
function slice(ws: WindowSet, from: number, n: number): WindowSet {
  const per = ws.channels * ws.length;
  return { n, channels: ws.channels, length: ws.length, x: ws.x.slice(from * per, (from + n) * per) };
}

/** Logits of a model artifact on windows, computed here with tfjs as an agent serving it would. */
function logitsOf(artifact: Uint8Array, ws: WindowSet): Float32Array {
  const net = cnnFromArtifact(decodeCnnArtifact(artifact));
  try {
    return predictLogits(net, ws).data;
  } finally {
    for (const v of Object.values(net.vars)) v.dispose();
  }
}

let batchNo = 0;
async function send(w: RollbackWorld, agent: string, version: string, ws: WindowSet, logits: Float32Array): Promise<void> {
  const batchId = `${agent}-${String(++batchNo).padStart(9, '0')}`;
  const b: SampleBatch = {
    batchId, site: SITE, agent, modelVersion: version, channels: ws.channels, windowLength: ws.length, numClasses: 6, n: ws.n,
    windows: f32ToBytes(channelsFirstToLast(ws.x, ws.n, ws.channels, ws.length)), logits: f32ToBytes(logits),
    windowStarts: Array.from({ length: ws.n }, (_, i) => 1_800_000_000_000 + batchNo * 100_000 + i * 1280), selectedBy: new Array<0>(ws.n).fill(0),
    createdAt: 1_800_000_000_000,
  };
  let acked = false;
  await w.ops.subscribe(samplesAckTopic(SITE, agent), () => {
    acked = true;
  });
  await w.ops.publish(samplesTopic(SITE, agent), encode(b), { qos: 1 });
  await waitFor(`ack of ${batchId}`, () => acked);
}

const decisions = (w: RollbackWorld): string[] => w.logs.filter((l) => l.includes('rollout watch decision'));

test('the hub rolls a worse student back on evidence from fresh windows, and the agent ends on the previous version', async (t) => {
  let bad: Uint8Array | undefined;
  // Budget 24: looks at 7, 14 and 24 windows (hub/jobs/rollout-watch.ts watchPlan).
  const w = await startWorld(t, 'rb-evidence', forcedRound(() => bad as Uint8Array), {
    rollbackWindowBudget: 24,
    // The bad student is built against the teacher as it is (a class it never predicts here): judge with that one.
    gateReference: 'teacher',
  });
  const v1 = w.agent.agent.snapshot().modelVersion as string;
  const bundle = await w.hub.whenTeacher();
  const fresh = w.fx.domains[1]?.test as WindowSet;
  const teacherSays = argmaxRows(predictLogits(cnnFromArtifact(decodeCnnArtifact(bundle.teacher.bytes)), fresh));
  const counts = [0, 1, 2, 3, 4, 5].map((c) => teacherSays.filter((x) => x === c).length);
  const rare = counts.indexOf(Math.min(...counts));
  assert.ok((counts[rare] as number) <= 1, `the teacher says every class on these windows (${counts.join(',')}): pick other data`);
  bad = constantClassStudent(bundle.generic.bytes, rare);

  const round = await w.round();
  assert.equal(round.state, 'done', round.message);
  const v2 = round.result?.version as string;
  await waitUntil(() => w.agent.agent.snapshot().modelVersion === v2, 10_000, `the agent on ${v2}`);
  await waitFor('the watch to start', () => w.logs.some((l) => l.includes('rollout watch started') && l.includes(v2)));
  const v2Bytes = fs.readFileSync(path.join(w.fx.stateDir, 'models', 'sites', SITE, `${v2}.skdm`));

  // An agent that claims v2 but returns the generic student's logits, and one really serving v2.
  await send(w, 'gw-liar', v2, slice(fresh, 0, 6), logitsOf(bundle.generic.bytes, slice(fresh, 0, 6)));
  await send(w, 'gw-2', v2, slice(fresh, 6, 6), logitsOf(v2Bytes, slice(fresh, 6, 6)));
  const first = await waitFor('the first look', () => decisions(w)[0], 60_000);
  assert.match(first, /"verdict":"wait"/);
  assert.match(first, /"excludedAgents":\["gw-liar"\]/);
  assert.match(first, /6 judged windows from agents serving/);
  assert.equal(w.manifests.at(-1)?.version, v2, 'no decision yet');

  // A restart between looks: the watch comes back from the registry and recounts its windows from the store.
  await w.restartHub();
  assert.equal(decisions(w).length, 1, 'no look is due again after the restart: the first one is persisted');

  await send(w, 'gw-2', v2, slice(fresh, 12, 6), logitsOf(v2Bytes, slice(fresh, 12, 6)));
  const second = await waitFor('the second look', () => decisions(w)[1], 60_000);
  assert.match(second, /"verdict":"rollback"/, second);
  const m = await waitFor('the rollback manifest', () => (w.manifests.at(-1)?.version === v1 ? w.manifests.at(-1) : undefined), 30_000);
  assert.equal(m.rollback?.from, v2);
  assert.match(m.rollback?.reason ?? '', new RegExp(`^on evidence: roll back: ${v1} agrees with the teacher on \\d+ of 12 fresh windows, ${v2} on [01];`));
  assert.match(m.rollback?.reason ?? '', new RegExp(`mean confidence ${v2} 100\\.0% vs ${v1} before \\d+\\.\\d%; class-mix shift \\(total variation\\) \\d\\.\\d{3}; 6 windows left out.*gw-liar`));
  assert.ok(verifyManifest(m, w.hub.publicKeyPem as string).ok);
  await waitUntil(() => w.agent.agent.snapshot().modelVersion === v1, 10_000, `the agent back on ${v1}`);
  assert.deepEqual(w.agentModel(), { ...w.agentModel(), version: v1, createdAt: m.createdAt, source: 'hub' });
  const ev = await waitFor('the JobEvent', () => w.events.find((e) => e.trigger === 'evidence' && e.state === 'done'));
  assert.deepEqual([ev.result?.version, ev.result?.rollbackFrom], [v1, v2]);
  const details = (await w.command({ cmd: 'status', site: SITE })).result as { models: Array<{ version: string; kind: string; rollout?: string; trigger?: string }>; watch: unknown };
  assert.equal(details.models.find((r) => r.version === v2)?.rollout, 'rolled-back');
  assert.deepEqual(details.models.at(-1), { ...details.models.at(-1), version: v1, kind: 'rollback', trigger: 'evidence' });
  assert.equal(details.watch, null, 'the watch ended');
});
