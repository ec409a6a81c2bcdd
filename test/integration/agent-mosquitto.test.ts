/**
 * The agent against a real Mosquitto (MQTT 5 negotiated by `protocol: auto`) with the stock command-line clients:
 * readings typed into `mosquitto_pub` produce predictions, and `mosquitto_sub` prints status, predictions and
 * telemetry as text when the agent publishes JSON (issue 3 "Must hold"). A signed model rolls out in 64 KiB chunks
 * and sample batches are acked over the same broker. Without mosquitto these tests skip, or fail when CI is set
 * (test/helpers/requirements.ts decides; .ci/run installs it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DEFAULT_CHUNK_SIZE } from '../../shared/protocol/chunks';
import { decode, encode } from '../../shared/protocol/codec';
import { SampleBatchSchema } from '../../shared/protocol/messages';
import { samplesAckTopic, samplesTopic } from '../../shared/protocol/topics';
import { mosquitto, testNeeding } from '../helpers/requirements';
import { AGENT, createHarness, makeModel, prepareModel, SENSOR_TOPIC, SITE, waitFor, writeModelFile } from './agent-harness';

const MOSQUITTO = mosquitto();

/** Runs a mosquitto client until it exits (or `timeoutMs`), returning its stdout. */
function run(cmd: string, args: string[], input?: string, timeoutMs = 8000): { done: Promise<string>; kill: () => void } {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  if (input !== undefined) child.stdin.end(input);
  const done = new Promise<string>((resolve) => child.once('exit', () => (clearTimeout(timer), resolve(out))));
  return { done, kill: () => child.kill('SIGTERM') };
}

testNeeding(MOSQUITTO, 'mosquitto_pub readings produce predictions that mosquitto_sub reads as JSON, with status and telemetry', {}, async (t) => {
  const h = await createHarness(t, { broker: 'mosquitto' });
  const port = String(h.broker.port);
  const a = await h.start(h.config({ modelFile: writeModelFile(h.dir, makeModel('boot-1', 1)), payloadFormat: 'json' }));
  assert.equal(a.transport.protocolVersion, 5, 'MQTT 5 with Mosquitto');
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-v', '-t', `sitekd/v1/${SITE}/${AGENT}/#`, '-C', '8']);
  await new Promise((r) => setTimeout(r, 300));
  const lines = Array.from({ length: 320 }, (_, i) => JSON.stringify({ ts: 1_700_000_000_000 + i * 20, values: Array.from({ length: 9 }, (_, c) => Math.cos(i / 5 + c)) }));
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-t', SENSOR_TOPIC, '-l'], `${lines.join('\n')}\n`).done;
  const out = await sub.done;
  const byTopic = new Map<string, Array<Record<string, unknown>>>();
  for (const line of out.trim().split('\n')) {
    const at = line.indexOf(' ');
    const kind = line.slice(0, at).split('/').pop() as string;
    byTopic.set(kind, [...(byTopic.get(kind) ?? []), JSON.parse(line.slice(at + 1)) as Record<string, unknown>]);
  }
  assert.equal(byTopic.get('status')?.[0]?.['state'], 'online', 'the retained birth message');
  assert.equal(byTopic.get('status')?.[0]?.['modelVersion'], 'boot-1');
  assert.ok((byTopic.get('predictions')?.length ?? 0) >= 3, out);
  assert.equal(byTopic.get('predictions')?.[0]?.['modelVersion'], 'boot-1');
  assert.ok((byTopic.get('telemetry')?.length ?? 0) >= 1, out);
});

testNeeding(MOSQUITTO, 'over Mosquitto: a signed model in 64 KiB chunks is applied and sample batches are acked', {}, async (t) => {
  const h = await createHarness(t, { broker: 'mosquitto' });
  await h.hub.subscribe(samplesTopic(SITE, AGENT), (_t, payload) => {
    const r = decode(SampleBatchSchema, payload);
    if (r.ok) void h.hub.publish(samplesAckTopic(SITE, AGENT), encode({ batchId: r.value.batchId, stored: r.value.n, duplicate: false }), { qos: 1 });
  });
  const a = await h.start(h.config({ upload: { intervalMs: 200, budgetBytesPerMinute: 50_000_000, maxBatch: 4 } }));
  const model = makeModel('s-1-0001', 3);
  const p = prepareModel(model, h.key, { chunkSize: DEFAULT_CHUNK_SIZE });
  await h.publishChunks(p);
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().modelVersion === 's-1-0001', 5000, 'model applied');
  await h.publishReadings(1_700_000_000_000, 320);
  await waitFor(() => a.agent.snapshot().uploader.acked >= 1, 5000, 'a batch acked');
  await waitFor(() => a.agent.snapshot().outbox.depth === 0, 3000, 'outbox empty');
});
