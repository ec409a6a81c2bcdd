/**
 * Hostile and broken payloads on every topic the agent reads — sensor, manifest, chunk, ack: random bytes, wrong
 * shapes, NaN, oversize. Each is dropped with its code and counted in telemetry `dropped`; the agent keeps serving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import { ErrorCode } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { TelemetrySchema, type Telemetry } from '../../shared/protocol/messages';
import { modelChunkTopic, modelTopic, predictionsTopic, samplesAckTopic, telemetryTopic } from '../../shared/protocol/topics';
import { AGENT, createHarness, makeModel, prepareModel, SENSOR_TOPIC, SITE, sleep, waitFor, writeModelFile } from './agent-harness';

test('malformed payloads on the sensor, manifest, chunk and ack topics are counted by code and nothing crashes', async (t) => {
  const h = await createHarness(t);
  const telemetry = await h.collect(telemetryTopic(SITE, AGENT));
  const predictions = await h.collect(predictionsTopic(SITE, AGENT));
  const a = await h.start(h.config({ modelFile: writeModelFile(h.dir, makeModel('v1', 1)), maxMessageBytes: 64 * 1024 }));
  const send = (topic: string, payload: Uint8Array | string): Promise<void> =>
    h.hub.publish(topic, typeof payload === 'string' ? Buffer.from(payload) : payload, { qos: 1 });
  const nine = (v: unknown): unknown[] => Array.from({ length: 9 }, () => v);

  // Sensor topic.
  const sensorBad: Array<Uint8Array | string> = [
    randomBytes(200),
    '{"ts":1700000000000,"values":[NaN,1,2,3,4,5,6,7,8]}',
    JSON.stringify({ ts: 1_700_000_000_000, values: nine(null) }),
    encode({ ts: 1_700_000_000_000, values: nine(Number.NaN) }),
    JSON.stringify({ ts: 1_700_000_000_000, values: [1, 2, 3] }),
    JSON.stringify({ ts: 'yesterday', values: nine(1) }),
    'not,a,number\n',
    new Uint8Array(128 * 1024).fill(0x31),
    new Uint8Array(0),
  ];
  for (const p of sensorBad) await send(SENSOR_TOPIC, p);

  // Manifest topic (not retained: the next connection should not see it again).
  const manifestBad: Array<Uint8Array | string> = [
    randomBytes(300),
    '{"site":"site-a","version":"x",',
    '{"site":"site-a","version":"x","size":NaN}',
    JSON.stringify({ site: SITE, version: 'x' }),
    pack({ site: SITE, version: 'x', sha256: 'zz', size: -1 }),
    new Uint8Array(100 * 1024).fill(0x7b),
  ];
  for (const p of manifestBad) await h.hub.publish(modelTopic(SITE), typeof p === 'string' ? Buffer.from(p) : p, { qos: 1 });

  // Chunk topic: only chunks of a transfer in progress are read, so start one and feed it garbage.
  const p = prepareModel(makeModel('v2', 2), h.key);
  await h.publishManifest(p.manifest);
  await waitFor(() => a.agent.snapshot().update === 'fetching', 3000, 'transfer started');
  await sleep(200); // its chunk subscriptions reach the broker
  for (const bad of [randomBytes(50), randomBytes(8192), new Uint8Array(200 * 1024)]) await send(modelChunkTopic(SITE, 'v2', 0), bad);

  // Ack topic.
  const ackBad: Array<Uint8Array | string> = [
    randomBytes(64),
    '{"batchId":',
    JSON.stringify({ batchId: 'short' }),
    JSON.stringify({ batchId: 'abcdefgh12345678', stored: Number.MAX_VALUE, duplicate: 'no' }),
    new Uint8Array(100 * 1024).fill(0x91),
  ];
  for (const b of ackBad) await send(samplesAckTopic(SITE, AGENT), b);

  await waitFor(() => (a.agent.snapshot().dropped[ErrorCode.PAYLOAD_TOO_LARGE] ?? 0) >= 2 && (a.agent.snapshot().dropped[ErrorCode.MODEL_CHECKSUM] ?? 0) >= 3, 3000, 'all payloads handled');
  const dropped = a.agent.snapshot().dropped;
  const total = Object.values(dropped).reduce((s, n) => s + n, 0);
  assert.equal(total, sensorBad.length + manifestBad.length + 3 + ackBad.length, `every bad payload counted once: ${JSON.stringify(dropped)}`);
  assert.equal(dropped[ErrorCode.READING_INVALID], 8);
  assert.equal(dropped[ErrorCode.READING_TOO_LARGE], 1);
  assert.equal(dropped[ErrorCode.MODEL_CHECKSUM], 3);
  assert.equal(dropped[ErrorCode.PAYLOAD_TOO_LARGE], 2);
  assert.ok((dropped[ErrorCode.MSG_SCHEMA] ?? 0) >= 3);
  assert.ok((dropped[ErrorCode.MSG_DECODE] ?? 0) >= 3);

  // Telemetry reports the same counts.
  await waitFor(
    () => telemetry.some((m) => {
      const r = decode(TelemetrySchema, m.payload);
      return r.ok && Object.values((r.value as Telemetry).dropped).reduce((s, n) => s + n, 0) === total;
    }),
    3000,
    'telemetry with the dropped counts',
  );
  // Still serving.
  assert.equal(a.agent.snapshot().state, 'running');
  await h.publishReadings(1_700_000_500_000, 320);
  await waitFor(() => predictions.length >= 3, 5000, 'predictions after the garbage');
});
