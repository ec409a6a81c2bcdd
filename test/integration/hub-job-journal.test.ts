/**
 * A hub killed during a round (issue 8, finding 6): a real `sitekd hub` child process is SIGKILLed while its round
 * trains; the next hub on the same state directory reports that job `failed` with JOB_INTERRUPTED (on hub/jobs, in its
 * log and in the site's last round) instead of forgetting it. Before the journal, the job vanished without an event.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { HubStatusSchema, JobEventSchema, type JobEvent } from '../../shared/protocol/messages';
import { hubCmdTopic, hubJobsTopic, hubStatusTopic, replyTopic, samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import { startEmbeddedBroker } from '../../hub/mqtt/broker';
import { connectClient, makeBatch, makeFixture, startHub, waitFor } from './hub-fixture';

const CLI = path.resolve(__dirname, '../../bin/sitekd.js');

test('a job cut short by a killed hub is reported failed (JOB_INTERRUPTED) by the next hub', async (t) => {
  const fx = makeFixture('journal');
  const broker = await startEmbeddedBroker({ port: 0, security: 'anonymous' });
  const ops = await connectClient(broker.url, 'ops-1');
  t.after(async () => {
    await ops.close(true).catch(() => undefined);
    await broker.close();
    fx.cleanup();
  });
  const events: JobEvent[] = [];
  await ops.subscribe(hubJobsTopic(), (_t, p) => {
    const r = decode(JobEventSchema, p);
    if (r.ok) events.push(r.value);
  });
  const base = { broker: broker.url, sites: ['site-1'] };
  // 1. A hub makes the teacher and the generic student and stores enough windows for a round, then stops cleanly.
  const first = await startHub(fx.config(base));
  let acked = 0;
  await ops.subscribe(samplesAckTopic('site-1', 'gw-1'), () => void acked++);
  for (let b = 0; b < 8; b++) {
    const batch = makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: `gw-1-${String(b).padStart(9, '0')}`, from: b * 6, n: 6 });
    await ops.publish(samplesTopic('site-1', 'gw-1'), encode(batch), { qos: 1 });
  }
  await waitFor('8 acks', () => acked === 8);
  await first.stop();
  // 2. A hub process with a long round: killed once the round runs.
  const file = path.join(fx.dir, 'hub-long.json');
  const { data, source, stateDir } = fx.config(base);
  // No turn voters: with 10 000 epochs their students would never be made, and rounds wait for them.
  fs.writeFileSync(file, JSON.stringify({ ...base, data, source, stateDir, schedule: null, epochs: 10_000, teacherEpochs: 1, turnVoters: 0, minTrainWindows: 16, minHeldOutWindows: 4, holdoutFraction: 0.3 }));
  const child = spawn(process.execPath, [CLI, 'hub', '--config', file], { stdio: 'ignore', env: { ...process.env, SITEKD_BACKEND: 'wasm' } });
  t.after(() => void child.kill('SIGKILL'));
  let online = false;
  await ops.subscribe(hubStatusTopic(), (_t, p) => {
    const r = decode(HubStatusSchema, p);
    online = r.ok && r.value.state === 'online' && r.value.teacherVersion !== null;
  });
  await waitFor('the child hub online', () => online, 60_000);
  await ops.publish(hubCmdTopic(), encode({ id: 'c-1', cmd: 'redistill', site: 'site-1', replyTo: replyTopic('ops-1') }), { qos: 1 });
  const running = await waitFor('a running round', () => events.find((e) => e.state === 'running' && (e.progress ?? 0) > 0.05), 60_000);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  // 3. The next hub on the same state directory (the dead child's lock is stale) reports the job.
  const lines: string[] = [];
  const next = await startHub(fx.config(base), lines);
  try {
    const failed = await waitFor('the failed event', () => events.find((e) => e.jobId === running.jobId && e.state === 'failed'), 20_000);
    assert.match(failed.message ?? '', new RegExp(ErrorCode.JOB_INTERRUPTED));
    assert.ok(lines.some((l) => l.startsWith('error redistill failed') && l.includes(ErrorCode.JOB_INTERRUPTED)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('warn stale state-directory lock taken over')), lines.join('\n'));
  } finally {
    await next.stop();
  }
});
