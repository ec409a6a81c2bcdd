/**
 * Malformed payloads on every topic the hub reads (samples, status, telemetry, hub/cmd): random bytes, truncated
 * msgpack, wrong shapes, NaN (in JSON-less msgpack numbers and inside float32 binaries), ids that disagree with the
 * topic, and oversize payloads. Each one is dropped and counted by code, none is acked or answered, and the hub
 * keeps serving: a valid batch and a valid command afterwards work as usual.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRng } from '../../shared/random';
import { decode, encode } from '../../shared/protocol/codec';
import { makeAgentStatus, makeTelemetry } from '../../shared/protocol/examples';
import { HubReplySchema } from '../../shared/protocol/messages';
import { hubCmdTopic, replyTopic, samplesAckTopic, samplesTopic, statusTopic, telemetryTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

let fx: Fixture;
let hub: Hub;
let evil: MqttTransport;
const acks: Buffer[] = [];
const replies: Buffer[] = [];

before(async () => {
  fx = makeFixture('malformed');
  // The broker's packet limit above the hub's payload limit: this test is about the hub's own check.
  hub = await startHub(fx.config({ sites: ['site-1'], maxPayloadBytes: 256 * 1024, brokerMaxPacketBytes: 1024 * 1024 }));
  evil = await connectClient(hub.url, 'gw-1');
  await evil.subscribe(samplesAckTopic('site-1', 'gw-1'), (_t, p) => {
    acks.push(p);
  });
  await evil.subscribe(replyTopic('gw-1'), (_t, p) => {
    replies.push(p);
  });
});

after(async () => {
  await evil?.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

function randomBytes(seed: number, n: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng.next() * 256);
  // A payload starting with `{` would be parsed as JSON: keep these msgpack-or-nothing.
  if (out[0] === 0x7b) out[0] = 0xc1;
  return out;
}

test('garbage on every inbound topic is counted by code, never acked or answered, and the hub keeps working', async () => {
  const samples = samplesTopic('site-1', 'gw-1');
  const good = makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-good00001', from: 0, n: 4 });
  const goodBytes = encode(good);
  const nanWindows = new Uint8Array(good.windows);
  nanWindows.set([0x00, 0x00, 0xc0, 0x7f], 40); // float32 #10 = NaN
  const cases: Array<[string, Uint8Array, string]> = [
    [samples, randomBytes(1, 500), 'SITEKD_ERR_MSG_DECODE'],
    [samples, goodBytes.subarray(0, goodBytes.length - 100), 'SITEKD_ERR_MSG_DECODE'],
    [samples, encode({ ...good, windows: nanWindows }), 'SITEKD_ERR_MSG_SCHEMA'],
    [samples, encode({ ...good, n: 5 }), 'SITEKD_ERR_MSG_SCHEMA'],
    [samples, encode({ ...good, site: 'site-2' }), 'SITEKD_ERR_MSG_SCHEMA'],
    [samples, encode([1, 2, 3]), 'SITEKD_ERR_MSG_SCHEMA'],
    [samples, Buffer.from('{"batchId": "x", "windows": [1,2'), 'SITEKD_ERR_MSG_DECODE'],
    [samples, randomBytes(2, 300 * 1024), 'SITEKD_ERR_PAYLOAD_TOO_LARGE'],
    [statusTopic('site-1', 'gw-1'), randomBytes(3, 64), 'SITEKD_ERR_MSG_DECODE'],
    [statusTopic('site-1', 'gw-1'), encode({ ...makeAgentStatus(), channels: Number.NaN }), 'SITEKD_ERR_MSG_SCHEMA'],
    [statusTopic('site-1', 'gw-1'), Buffer.from('{"state":"sleeping"}'), 'SITEKD_ERR_MSG_SCHEMA'],
    [telemetryTopic('site-1', 'gw-1'), encode({ ...makeTelemetry(), windowsPerSec: Number.POSITIVE_INFINITY }), 'SITEKD_ERR_MSG_SCHEMA'],
    [telemetryTopic('site-1', 'gw-1'), randomBytes(4, 20), 'SITEKD_ERR_MSG_DECODE'],
    [hubCmdTopic(), randomBytes(5, 40), 'SITEKD_ERR_MSG_DECODE'],
    [hubCmdTopic(), new Uint8Array(0), 'SITEKD_ERR_MSG_DECODE'],
    [hubCmdTopic(), Buffer.from(`{"id":"c-1","cmd":"redistill","replyTo":"${replyTopic('gw-1')}"}`), 'SITEKD_ERR_MSG_SCHEMA'],
    [hubCmdTopic(), Buffer.from(`{"id":"c-2","cmd":"status","replyTo":"sitekd/v1/#"}`), 'SITEKD_ERR_MSG_SCHEMA'],
    [hubCmdTopic(), encode({ id: 'c-3', cmd: 'format-disk', replyTo: replyTopic('gw-1') }), 'SITEKD_ERR_MSG_SCHEMA'],
    [hubCmdTopic(), randomBytes(6, 300 * 1024), 'SITEKD_ERR_PAYLOAD_TOO_LARGE'],
    // replyTo outside hub/reply/: onto the agent's own ack topic (the client listens there), a model topic, a foreign root.
    [hubCmdTopic(), encode({ id: 'c-5', cmd: 'status', replyTo: samplesAckTopic('site-1', 'gw-1') }), 'SITEKD_ERR_CMD_REPLY_TO'],
    [hubCmdTopic(), encode({ id: 'c-6', cmd: 'redistill', site: 'site-1', replyTo: 'sitekd/v1/site-1/model' }), 'SITEKD_ERR_CMD_REPLY_TO'],
    [hubCmdTopic(), encode({ id: 'c-7', cmd: 'sites', replyTo: 'factory/line1/imu' }), 'SITEKD_ERR_CMD_REPLY_TO'],
  ];
  const expected: Record<string, number> = {};
  for (const [topic, payload, code] of cases) {
    await evil.publish(topic, payload, { qos: 1 });
    expected[code] = (expected[code] ?? 0) + 1;
  }
  // Not ours: a reply topic whose client is called "status" matches the status filter but is not an agent status.
  await evil.publish('sitekd/v1/hub/reply/status', randomBytes(7, 10), { qos: 1 });
  await waitFor('every drop counted', () => {
    const total = Object.values(hub.stats()['dropped'] as Record<string, number>).reduce((a, b) => a + b, 0);
    return total >= cases.length;
  });
  assert.deepEqual(hub.stats()['dropped'], expected);
  // The hub still works: a valid batch is acked, a valid command answered.
  await evil.publish(samplesTopic('site-1', 'gw-1'), goodBytes, { qos: 1 });
  await evil.publish(hubCmdTopic(), encode({ id: 'c-ok', cmd: 'status', replyTo: replyTopic('gw-1') }), { qos: 1 });
  await waitFor('ack and reply', () => acks.length >= 1 && replies.length >= 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(acks.length, 1, 'only the valid batch was acked');
  assert.equal(replies.length, 1, 'only the valid command was answered');
  const reply = decode(HubReplySchema, replies[0]!);
  assert.ok(reply.ok && reply.value.id === 'c-ok' && reply.value.ok);
  assert.equal((hub.stats()['inbound'] as { batchesStored: number }).batchesStored, 1);
  assert.deepEqual((hub.stats()['commands'] as { executed: number; refusedReplyTo: number }).refusedReplyTo, 3);
  assert.equal((hub.stats()['commands'] as { executed: number }).executed, 1, 'a command with a foreign replyTo is not run');
});
