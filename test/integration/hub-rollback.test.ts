/**
 * Rollback by hand (issue 7 part 4): a real hub and a real agent on one broker. After a round publishes version 2,
 * `sitekd rollback` puts the site back on version 1: the hub publishes version 1 again under its own name with a
 * fresh, signed createdAt and the signed `rollback` field; the agent takes it through its normal verified path and
 * ends on version 1 (its status and its model store say so); the rollback is a JobEvent and a record in the site's
 * model history. A replayed old manifest without the field is still skipped. Unknown site, unknown version, the
 * current version and a missing artifact are refused with their codes, and the next round gets number 3, never 2.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { splitChunks } from '../../shared/protocol/chunks';
import { decode, encode } from '../../shared/protocol/codec';
import { AgentStatusSchema, type AgentStatus } from '../../shared/protocol/messages';
import { verifyManifest } from '../../shared/protocol/signing';
import { hubCmdTopic, replyTopic, statusTopic } from '../../shared/protocol/topics';
import { rollbackCommand } from '../../hub/cli/rollback';
import { sleep, waitFor as waitUntil } from './agent-harness';
import { forcedRound, SITE, startWorld, type RollbackWorld } from './rollback-fixture';

async function rollback(w: RollbackWorld, ...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const err = new PassThrough().resume();
  const code = await rollbackCommand.run(['--site', SITE, '--broker', w.h.broker.url, '--json', '--timeout', '30', ...args], { stdout: out, stderr: err, env: {} });
  return { code, json: JSON.parse(text) as Record<string, unknown> };
}

const refusedWith = (c: string) => (e: unknown) => isSitekdError(e) && e.code === c;

test('sitekd rollback puts the agent back on the earlier version, signed and verified; no downgrade without the field', async (t) => {
  const w = await startWorld(t, 'rb-hand', forcedRound(), { rollbackOnEvidence: false });
  const status: AgentStatus[] = [];
  await w.ops.subscribe(statusTopic(SITE, 'gw-1'), (_t, p) => {
    const r = decode(AgentStatusSchema, p);
    if (r.ok) status.push(r.value);
  });
  const v1 = w.agent.agent.snapshot().modelVersion as string;
  assert.match(v1, /^1-[0-9a-f]{8}$/);
  const published = await w.round();
  assert.equal(published.state, 'done', published.message);
  const v2 = published.result?.version as string;
  assert.match(v2, /^2-/);
  await waitUntil(() => w.agent.agent.snapshot().modelVersion === v2, 10_000, `the agent on ${v2}`);
  const v2Manifest = w.manifests.find((m) => m.version === v2) ?? assert.fail('no manifest of v2 seen');

  // By hand, without --to: back to the version served before.
  const { code, json } = await rollback(w, '--reason', 'line 3 misclassifies walking');
  assert.equal(code, 0);
  assert.deepEqual([json['site'], json['version'], json['from'], json['reason']], [SITE, v1, v2, 'line 3 misclassifies walking']);
  const m = await waitFor(w, v1);
  assert.deepEqual(m.rollback, { from: v2, reason: 'line 3 misclassifies walking' });
  assert.equal(m.createdAt, json['createdAt']);
  assert.ok(m.createdAt > v2Manifest.createdAt, 'a fresh signed time, newer than the version rolled back from');
  assert.ok(verifyManifest(m, w.hub.publicKeyPem as string).ok, 'signed by the hub');
  await waitUntil(() => w.agent.agent.snapshot().modelVersion === v1, 10_000, `the agent back on ${v1}`);
  assert.deepEqual(w.agentModel(), { ...w.agentModel(), version: v1, createdAt: m.createdAt, source: 'hub' }, 'installed from the verified rollback manifest');
  await waitUntil(() => status.some((s) => s.state === 'online' && s.modelVersion === v1 && s.ts > m.createdAt), 5000, 'status shows v1');
  const ev = w.events.find((e) => e.jobId === json['jobId'] && e.state === 'done') ?? assert.fail('no JobEvent for the rollback');
  assert.deepEqual([ev.trigger, ev.result?.version, ev.result?.rollbackFrom, ev.message], ['command', v1, v2, 'line 3 misclassifies walking']);
  const details = (await w.command({ cmd: 'status', site: SITE })).result as { models: Array<{ version: string; kind: string; from?: string }> };
  assert.deepEqual(details.models.at(-1), { ...details.models.at(-1), version: v1, kind: 'rollback', from: v2 });

  // A replayed old manifest of v2, with its chunks back in place, is skipped: it is older than the rollback.
  const bytes = fs.readFileSync(path.join(w.fx.stateDir, 'models', 'sites', SITE, `${v2}.skdm`));
  await w.h.publishChunks({ manifest: v2Manifest, chunks: splitChunks(bytes, v2Manifest.chunkSize).chunks });
  const seen = w.agent.agent.snapshot().updater.manifests;
  await w.h.publishManifest(v2Manifest);
  await waitUntil(() => w.agent.agent.snapshot().updater.manifests > seen, 5000, 'the agent saw the replay');
  await sleep(1000);
  assert.equal(w.agent.agent.snapshot().modelVersion, v1, 'no downgrade without the signed rollback field');
  assert.equal(w.agent.agent.snapshot().updater.applied, 3, 'the generic student, v2 and the rollback; not the replay');

  // Refusals, each with its code; nothing is published.
  await assert.rejects(rollback(w, '--to', v1), refusedWith(ErrorCode.ROLLBACK_TO_CURRENT));
  await assert.rejects(rollback(w, '--to', '7-0123abcd'), refusedWith(ErrorCode.MODEL_VERSION_UNKNOWN));
  await assert.rejects(rollback(w, '--site', 'site-zz'), refusedWith(ErrorCode.SITE_UNKNOWN));
  fs.renameSync(path.join(w.fx.stateDir, 'models', 'sites', SITE, `${v2}.skdm`), path.join(w.fx.dir, 'away.skdm'));
  await assert.rejects(rollback(w, '--to', v2), refusedWith(ErrorCode.MODEL_MISSING));
  assert.equal(w.agent.agent.snapshot().modelVersion, v1);

  // Numbers only grow: the next round is 3, not 2 again.
  const next = await w.round();
  assert.equal(next.state, 'done', next.message);
  assert.match(next.result?.version ?? '', /^3-[0-9a-f]{8}$/);

  // A command delivered twice (QoS 1) rolls back once: both get the same reply. From 3 the way back skips 2 (rolled
  // back from), so a second rollback would have gone elsewhere or been refused.
  const cmd = encode({ id: 'c-twice', cmd: 'rollback', site: SITE, replyTo: replyTopic('ops-rb-hand') });
  await w.ops.publish(hubCmdTopic(), cmd, { qos: 1 });
  await w.ops.publish(hubCmdTopic(), cmd, { qos: 1 });
  await waitUntil(() => w.replies.filter((r) => r.id === 'c-twice').length === 2, 10_000, 'two replies');
  const [a, b] = w.replies.filter((r) => r.id === 'c-twice');
  assert.deepEqual(a, b);
  assert.equal(a?.result?.['version'], v1);
  assert.equal(a?.result?.['from'], next.result?.version);
  await sleep(300);
  assert.equal(w.events.filter((e) => e.result?.rollbackFrom !== undefined).length, 2, 'one rollback JobEvent per rollback');
});

async function waitFor(w: RollbackWorld, version: string): Promise<RollbackWorld['manifests'][number]> {
  await waitUntil(() => w.manifests.at(-1)?.version === version, 10_000, `manifest ${version}`);
  return w.manifests.at(-1) as RollbackWorld['manifests'][number];
}
