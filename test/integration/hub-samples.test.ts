/**
 * Returned samples through a broker the hub does not own (`broker: URL`: an aedes started by the test, or the
 * broker named by SITEKD_TEST_MQTT_URL, e.g. an anonymous Mosquitto on 127.0.0.1 in CI): a
 * SampleBatch from a plain client is stored once and acked once per delivery (duplicate: true on resends), also
 * across a hub restart; a batch of the wrong shape is acked with an error so the agent drops it; agent births and
 * last wills show up in the site registry.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decode, encode } from '../../shared/protocol/codec';
import { makeAgentStatus } from '../../shared/protocol/examples';
import { HubReplySchema, SampleAckSchema, type SampleAck } from '../../shared/protocol/messages';
import { hubCmdTopic, replyTopic, samplesAckTopic, samplesTopic, statusTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/mqtt/broker';
import type { Hub } from '../../hub/hub';
import { connectClient, makeBatch, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

let fx: Fixture;
let broker: EmbeddedBroker | undefined;
let url: string;
let hub: Hub | undefined;
let agent: MqttTransport;
const acks: SampleAck[] = [];
const replies = new Map<string, unknown>();
const logs: string[] = [];

before(async () => {
  fx = makeFixture('samples');
  const external = process.env['SITEKD_TEST_MQTT_URL'];
  if (external === undefined) broker = await startEmbeddedBroker({ port: 0, security: 'anonymous' });
  url = external ?? (broker as EmbeddedBroker).url;
  hub = await startHub(fx.config({ broker: url, clientId: 'hub-under-test', sites: ['site-1'] }), logs);
  agent = await connectClient(url, 'gw-1');
  await agent.subscribe(samplesAckTopic('site-1', 'gw-1'), (_t, p) => {
    const r = decode(SampleAckSchema, p);
    assert.ok(r.ok, 'acks are valid SampleAcks');
    acks.push(r.value);
  });
  await agent.subscribe(replyTopic('gw-1'), (_t, p) => {
    const r = decode(HubReplySchema, p);
    if (r.ok) replies.set(r.value.id, r.value.result);
  });
});

after(async () => {
  await agent?.close(true).catch(() => undefined);
  await hub?.stop();
  await broker?.close();
  fx.cleanup();
});

async function siteStatus(id: string): Promise<Record<string, unknown>> {
  await agent.publish(hubCmdTopic(), encode({ id, cmd: 'status', site: 'site-1', replyTo: replyTopic('gw-1') }), { qos: 1 });
  return (await waitFor(`reply ${id}`, () => replies.get(id))) as Record<string, unknown>;
}

test('a batch sent twice is stored once and acked twice, the second time as a duplicate', async () => {
  const batch = encode(makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-000000001', from: 0, n: 8 }));
  await agent.publish(samplesTopic('site-1', 'gw-1'), batch, { qos: 1 });
  await waitFor('first ack', () => acks.length >= 1);
  await agent.publish(samplesTopic('site-1', 'gw-1'), batch, { qos: 1 });
  await waitFor('second ack', () => acks.length >= 2);
  await new Promise((r) => setTimeout(r, 200)); // no third ack turns up
  assert.deepEqual(acks, [
    { batchId: 'gw-1-000000001', stored: 8, duplicate: false },
    { batchId: 'gw-1-000000001', stored: 8, duplicate: true },
  ]);
  const s = await siteStatus('s-1');
  assert.equal(s['windowsStored'], 8);
  assert.equal(s['newWindows'], 8);
});

test('after a hub restart the same batch is still a duplicate and nothing is stored twice', async () => {
  await hub?.stop();
  hub = await startHub(fx.config({ broker: url, clientId: 'hub-under-test', sites: ['site-1'] }), logs);
  const batch = encode(makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-000000001', from: 0, n: 8 }));
  await agent.publish(samplesTopic('site-1', 'gw-1'), batch, { qos: 1 });
  await waitFor('ack after restart', () => acks.length >= 3);
  assert.deepEqual(acks[2], { batchId: 'gw-1-000000001', stored: 8, duplicate: true });
  const next = encode(makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-000000002', from: 8, n: 8 }));
  await agent.publish(samplesTopic('site-1', 'gw-1'), next, { qos: 1 });
  await waitFor('ack of a new batch', () => acks.length >= 4);
  assert.deepEqual(acks[3], { batchId: 'gw-1-000000002', stored: 8, duplicate: false });
  const s = await siteStatus('s-2');
  assert.equal(s['windowsStored'], 16);
  assert.equal(s['newWindows'], 16, 'the new-window counter is rebuilt from the store at start');
});

test('a batch whose shape does not match the site is acked with an error, not stored', async () => {
  const b = makeBatch(fx.domains[1]!, { site: 'site-1', agent: 'gw-1', batchId: 'gw-1-000000003', from: 0, n: 2 });
  const wrong = { ...b, numClasses: 4, logits: b.logits.subarray(0, 2 * 4 * 4) };
  await agent.publish(samplesTopic('site-1', 'gw-1'), encode(wrong), { qos: 1 });
  const ack = await waitFor('error ack', () => acks.find((a) => a.batchId === 'gw-1-000000003'));
  assert.equal(ack.stored, 0);
  assert.equal(ack.error?.code, 'SITEKD_ERR_MODEL_SPEC_MISMATCH');
  assert.equal((await siteStatus('s-3'))['windowsStored'], 16);
});

test('agent birth and last will drive liveness in the registry', async () => {
  await agent.publish(statusTopic('site-1', 'gw-1'), encode(makeAgentStatus({ modelVersion: null })), { qos: 1, retain: true });
  await new Promise((r) => setTimeout(r, 100));
  let s = await siteStatus('s-4');
  const agents = () => s['agents'] as Array<{ agent: string; state: string }>;
  assert.deepEqual(agents().map((a) => [a.agent, a.state]), [['gw-1', 'online']]);
  assert.equal(s['agentsOnline'], 1);
  await agent.publish(statusTopic('site-1', 'gw-1'), encode({ state: 'offline' }), { qos: 1, retain: true });
  await new Promise((r) => setTimeout(r, 100));
  s = await siteStatus('s-5');
  assert.deepEqual(agents().map((a) => [a.agent, a.state]), [['gw-1', 'offline']]);
  // Clear the retained status so the next hub start does not see it (an empty retained payload is not garbage).
  await agent.publish(statusTopic('site-1', 'gw-1'), new Uint8Array(0), { qos: 1, retain: true });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual((hub?.stats()['dropped'] as Record<string, number>)['SITEKD_ERR_MSG_DECODE'], undefined);
});
