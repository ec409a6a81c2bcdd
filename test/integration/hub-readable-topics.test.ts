/**
 * What an operator's `mosquitto_sub -t 'sitekd/v1/#' -v` prints is readable (issue 9): the hub publishes its status,
 * job events and model manifests as JSON text, and replies to a command in the format of the command (JSON for
 * `mosquitto_pub -m '{…}'`, msgpack for a msgpack client). Raw payloads here, no sitekd decoder.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encode } from '../../shared/protocol/codec';
import { hubCmdTopic, hubStatusTopic, modelTopic, replyTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { collect, connectClient, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

let fx: Fixture;
let hub: Hub;
let ops: MqttTransport;
const clients: MqttTransport[] = [];

before(async () => {
  fx = makeFixture('readable');
  hub = await startHub(fx.config({ sites: ['site-1'] }));
  ops = await connectClient(hub.url, 'ops-readable');
  clients.push(ops);
});

after(async () => {
  for (const c of clients) await c.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

const text = (b: Uint8Array): Record<string, unknown> => JSON.parse(Buffer.from(b).toString('utf8')) as Record<string, unknown>;

test('hub status and the model manifest are JSON text on the wire', async () => {
  const status = await collect(ops, hubStatusTopic());
  const manifest = await collect(ops, modelTopic('site-1'));
  await waitFor('retained status and manifest', () => status.length > 0 && manifest.length > 0);
  assert.equal(text(status.at(-1)!.payload)['state'], 'online');
  const m = text(manifest.at(-1)!.payload);
  assert.equal(m['site'], 'site-1');
  assert.match(String(m['signature']), /==$/);
});

test('a JSON command gets a JSON reply, a msgpack command a msgpack reply', async () => {
  const replies = await collect(ops, replyTopic('ops-readable'));
  const cmd = { id: 'c-json', cmd: 'status', replyTo: replyTopic('ops-readable') };
  await ops.publish(hubCmdTopic(), Buffer.from(JSON.stringify(cmd)), { qos: 1, retain: false });
  await waitFor('json reply', () => replies.length >= 1);
  const r = text(replies[0]!.payload);
  assert.equal(r['id'], 'c-json');
  assert.equal(r['ok'], true);
  await ops.publish(hubCmdTopic(), encode({ ...cmd, id: 'c-msgpack' }), { qos: 1, retain: false });
  await waitFor('msgpack reply', () => replies.length >= 2);
  assert.notEqual(replies[1]!.payload[0], 0x7b, 'msgpack, not JSON');
});
