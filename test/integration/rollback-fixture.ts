/**
 * Shared set-up for the rollback tests (not a test file itself): a real hub and a real agent on one aedes broker, the
 * agent trusting the hub's key; a round whose outcome is forced (fault injection at the worker's output, as in
 * hub-redistill.test.ts) so that a chosen candidate is published; a student that always says one class; and readers
 * for what the agent holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { decodeArtifact, encodeArtifact } from '../../shared/artifact/model-artifact';
import { decode, encode } from '../../shared/protocol/codec';
import { HubReplySchema, JobEventSchema, ModelManifestSchema, type HubReply, type JobEvent, type ModelManifest } from '../../shared/protocol/messages';
import { hubCmdTopic, hubJobsTopic, replyTopic, samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { RunningAgent } from '../../agent/main';
import type { Hub } from '../../hub/hub';
import type { HubConfigInput } from '../../hub/config';
import { runMlTask, type MlRunner } from '../../hub/worker/ml-runner';
import type { RedistillOutput } from '../../hub/worker/ml-worker-protocol';
import { createHarness, waitFor as waitUntil, type Harness } from './agent-harness';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

export const SITE = 'site-1';

/**
 * The real worker for everything but a round: a round's candidate is replaced by `candidate()` (if given) and its
 * judge says the candidate agrees with the reference on every held-out window and the current student on none.
 */
export function forcedRound(candidate?: () => Uint8Array): MlRunner {
  return async (task, opts) => {
    const out = await runMlTask(task, opts);
    if (task.kind !== 'redistill') return out;
    const r = out as RedistillOutput;
    const n = r.evaluation.heldOut;
    const agrees = { candidate: new Uint8Array(n).fill(1), current: new Uint8Array(n) };
    return { ...r, ...(candidate ? { artifact: candidate() } : {}), evaluation: { ...r.evaluation, agrees, candidateAgreement: 1, currentAgreement: 0 } } as typeof out;
  };
}

/** A copy of a student artifact whose classifier always says `cls` (zero weights, a large bias for `cls`). */
export function constantClassStudent(bytes: Uint8Array, cls: number): Uint8Array {
  const { format: _f, formatVersion: _v, sha256: _s, ...a } = decodeArtifact(bytes);
  const w = a.weights['clf.w'];
  const b = a.weights['clf.b'];
  if (w === undefined || b === undefined) throw new Error('not a student artifact');
  const weights = { ...a.weights, 'clf.w': { ...w, data: new Float32Array(w.data.length) }, 'clf.b': { ...b, data: Float32Array.from(b.data, (_, j) => (j === cls ? 10 : -10)) } };
  return encodeArtifact({ ...a, weights });
}

export interface RollbackWorld {
  readonly fx: Fixture;
  readonly h: Harness;
  /** The running hub (a new object after `restartHub`). */
  readonly hub: Hub;
  readonly agent: RunningAgent;
  /** The operator's client: replies on `hub/reply/ops`, every JobEvent and the site's manifests as they come. */
  readonly ops: MqttTransport;
  readonly events: JobEvent[];
  readonly replies: HubReply[];
  readonly manifests: ModelManifest[];
  readonly logs: string[];
  /** Sends a command and waits for its reply. */
  command(cmd: Record<string, unknown>): Promise<HubReply>;
  /** Runs a round by command and returns its final event. */
  round(): Promise<JobEvent>;
  /** The agent's active model as its store recorded it. */
  agentModel(): { version: string; createdAt: number | null; source: string };
  /** Stops the hub and starts it again on the same state directory and broker. */
  restartHub(): Promise<void>;
}

/** Hub (with `run` and `config`) and one agent of SITE on the harness broker; the site holds 48 returned windows. */
export async function startWorld(t: TestContext, name: string, run: MlRunner, config: Partial<HubConfigInput> = {}): Promise<RollbackWorld> {
  const h = await createHarness(t);
  const fx = makeFixture(name);
  t.after(() => fx.cleanup());
  const logs: string[] = [];
  const hubConfig = fx.config({ broker: h.broker.url, clientId: `hub-${name}`, sites: [SITE], ...config });
  let hub = await startHub(hubConfig, logs, { run });
  t.after(() => hub.stop());
  const ops = await connectClient(h.broker.url, `ops-${name}`);
  t.after(() => ops.close(true));
  const events: JobEvent[] = [];
  const replies: HubReply[] = [];
  const manifests: ModelManifest[] = [];
  await ops.subscribe(hubJobsTopic(), (_t, p) => {
    const r = decode(JobEventSchema, p);
    if (r.ok) events.push(r.value);
  });
  await ops.subscribe(replyTopic(`ops-${name}`), (_t, p) => {
    const r = decode(HubReplySchema, p);
    if (r.ok) replies.push(r.value);
  });
  await ops.subscribe(`sitekd/v1/${SITE}/model`, (_t, p) => {
    const r = decode(ModelManifestSchema, p);
    if (r.ok) manifests.push(r.value);
  });
  const generic = await waitFor('the generic student on the broker', () => manifests[0]?.version);
  await returnWindows(ops, fx, 48, generic);
  const agent = await h.start(h.config({ site: SITE, id: 'gw-1', hubPublicKeyPem: hub.publicKeyPem as string }));
  await waitUntil(() => agent.agent.snapshot().modelVersion !== null, 10_000, 'the agent gets the generic student');
  let n = 0;
  const command = async (cmd: Record<string, unknown>): Promise<HubReply> => {
    const id = `c-${name}-${++n}`;
    await ops.publish(hubCmdTopic(), encode({ ...cmd, id, replyTo: replyTopic(`ops-${name}`) }), { qos: 1 });
    return waitFor(`reply ${id}`, () => replies.find((r) => r.id === id), 60_000);
  };
  const round = async (): Promise<JobEvent> => {
    const jobId = (await command({ cmd: 'redistill', site: SITE })).result?.['jobId'];
    return waitFor('the round', () => events.find((e) => e.jobId === jobId && ['done', 'rejected', 'failed', 'skipped'].includes(e.state)), 90_000);
  };
  const agentModel = (): { version: string; createdAt: number | null; source: string } =>
    (JSON.parse(fs.readFileSync(path.join(h.dir, 'agent', 'models', 'current.json'), 'utf8')) as { active: { version: string; createdAt: number | null; source: string } }).active;
  return {
    fx, h, agent, ops, events, replies, manifests, logs, command, round, agentModel,
    get hub() {
      return hub;
    },
    async restartHub() {
      await hub.stop();
      hub = await startHub(hubConfig, logs, { run });
    },
  };
}

/** `count` windows of SITE's train split (from window 0) as batches of 6, all sampled uniformly, from an agent serving `version`. */
async function returnWindows(ops: MqttTransport, fx: Fixture, count: number, version: string): Promise<void> {
  let acked = 0;
  await ops.subscribe(samplesAckTopic(SITE, 'gw-0'), () => {
    acked++;
  });
  const batches = count / 6;
  for (let b = 0; b < batches; b++) {
    const batch = { ...makeBatch(fx.domains[1] as Fixture['domains'][number], { site: SITE, agent: 'gw-0', batchId: `gw-0-${String(b).padStart(9, '0')}`, from: b * 6, n: 6 }), modelVersion: version };
    await ops.publish(samplesTopic(SITE, 'gw-0'), encode(batch), { qos: 1 });
  }
  await waitFor(`${batches} acks`, () => acked === batches);
}
