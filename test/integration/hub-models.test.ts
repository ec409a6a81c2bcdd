/**
 * Hub start on the embedded broker: the retained generic student of every configured site verifies with the hub's
 * public key and its chunks reassemble to the artifact; a restart republishes the same version (no new number, same
 * key); a site first announced by an agent's birth gets the generic student too; hub/status is retained.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { decodeArtifact } from '../../shared/artifact/model-artifact';
import { CnnSpecSchema } from '../../shared/ml/model-spec';
import { ChunkAssembler } from '../../shared/protocol/chunks';
import { decode, encode } from '../../shared/protocol/codec';
import { makeAgentStatus } from '../../shared/protocol/examples';
import { HubStatusSchema, ModelManifestSchema, type ModelManifest } from '../../shared/protocol/messages';
import { verifyManifest } from '../../shared/protocol/signing';
import { hubStatusTopic, parseTopic, statusTopic, sub } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { connectClient, makeFixture, startHub, waitFor, type Fixture } from './hub-fixture';

let fx: Fixture;
const logs: string[] = [];
const clients: MqttTransport[] = [];
let hub: Hub | undefined;

before(() => {
  fx = makeFixture('models');
});

after(async () => {
  for (const c of clients) await c.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

/** Everything retained under the site's model topics, as a fresh subscriber sees it. */
async function fetchModel(url: string, site: string): Promise<{ manifest: ModelManifest; bytes: Uint8Array }> {
  const c = await connectClient(url, `fetch-${site}-${Date.now()}`);
  clients.push(c);
  const chunks = new Map<string, Map<number, Buffer>>();
  let manifest: ModelManifest | undefined;
  await c.subscribe(`sitekd/v1/${site}/model/#`, (topic, payload) => {
    const t = parseTopic(topic);
    if (t?.kind === 'modelChunk' && payload.length > 0) {
      const m = chunks.get(t.version) ?? new Map<number, Buffer>();
      m.set(t.index, payload);
      chunks.set(t.version, m);
    }
  });
  await c.subscribe(`sitekd/v1/${site}/model`, (_topic, payload) => {
    const r = decode(ModelManifestSchema, payload);
    assert.ok(r.ok, 'the retained manifest decodes');
    manifest = r.value;
  });
  const m = await waitFor(`manifest of ${site}`, () => manifest);
  const assembler = new ChunkAssembler(m);
  await waitFor(`chunks of ${site}`, () => {
    for (const [i, b] of chunks.get(m.version) ?? []) assembler.add(i, b);
    return assembler.isComplete();
  });
  const bytes = assembler.assemble();
  assert.ok(bytes.ok, 'the chunks reassemble to the manifest sha256');
  return { manifest: m, bytes: bytes.value };
}

test('hub start publishes a signed, chunked generic student for every configured site', async () => {
  hub = await startHub(fx.config({ sites: ['site-a', 'site-b'], chunkBytes: 16 * 1024 }), logs);
  const pub = fs.readFileSync(`${fx.stateDir}/keys/hub-ed25519.pub.pem`, 'utf8');
  assert.equal((fs.statSync(`${fx.stateDir}/keys/hub-ed25519.key.pem`).mode & 0o777).toString(8), '600');
  for (const site of ['site-a', 'site-b']) {
    const { manifest, bytes } = await fetchModel(hub.url, site);
    assert.ok(verifyManifest(manifest, pub).ok, 'the manifest verifies with the published public key');
    assert.equal(manifest.site, site);
    assert.match(manifest.version, /^1-[0-9a-f]{8}$/);
    assert.ok(manifest.chunks >= 2, `a ${manifest.size}-byte student in 16 KiB chunks has several chunks`);
    const a = decodeArtifact(bytes, { specSchema: CnnSpecSchema });
    assert.equal(a.version, manifest.version, 'artifact and manifest name the same version');
    assert.equal(a.kind, 'student');
    assert.equal(a.spec.midChannels, 16);
    assert.deepEqual(a.spec, manifest.spec);
    assert.equal(a.target, site);
  }
  const c = await connectClient(hub.url, 'status-reader');
  clients.push(c);
  let status: unknown;
  await c.subscribe(hubStatusTopic(), (_t, p) => {
    const r = decode(HubStatusSchema, p);
    if (r.ok) status = r.value;
  });
  const online = await waitFor('hub status with both models', () => {
    const s = HubStatusSchema.safeParse(status);
    return s.success && s.data.state === 'online' && s.data.teacherVersion !== null && s.data.sites.every((x) => x.modelVersion !== null) ? s.data : undefined;
  });
  assert.deepEqual(online.sites.map((x) => [x.site, x.modelVersion?.slice(0, 2), x.agentsOnline, x.lastRedistillAt]), [['site-a', '1-', 0, null], ['site-b', '1-', 0, null]]);
  assert.equal(online.hubVersion, '0.0.0-test');
});

test('a site announced by an agent birth gets the generic student', async () => {
  assert.ok(hub !== undefined);
  const agent = await connectClient(hub.url, 'gw-new');
  clients.push(agent);
  await agent.publish(statusTopic('site-new', 'gw-new'), encode(makeAgentStatus({ modelVersion: null })), { qos: 1, retain: true });
  const { manifest } = await fetchModel(hub.url, 'site-new');
  assert.match(manifest.version, /^1-/);
});

test('a restart republishes the current version with the same key, and a fresh subscriber still gets it', async () => {
  assert.ok(hub !== undefined);
  const before = await fetchModel(hub.url, 'site-a');
  await hub.stop();
  hub = await startHub(fx.config({ sites: ['site-a', 'site-b'], chunkBytes: 16 * 1024 }), logs);
  const afterRestart = await fetchModel(hub.url, 'site-a'); // a new embedded broker: only the republish can put it there
  assert.equal(afterRestart.manifest.version, before.manifest.version);
  assert.equal(afterRestart.manifest.keyId, before.manifest.keyId);
  assert.deepEqual(afterRestart.bytes, before.bytes);
  assert.ok(logs.some((l) => l.includes('teacher loaded')), 'the second start loads the teacher instead of training it');
  assert.equal(sub.allModels(), 'sitekd/v1/+/model');
});

test('a restart with another --source trains a new teacher instead of reusing the stored one (issue 9 friction)', async () => {
  assert.ok(hub !== undefined);
  await hub.stop();
  logs.length = 0;
  hub = await startHub(fx.config({ source: 'site-1', sites: ['site-a'], chunkBytes: 16 * 1024 }), logs);
  assert.ok(logs.some((l) => l.includes('trained on another source')), logs.join('\n'));
  assert.ok(!logs.some((l) => l.includes('teacher loaded')), 'the stored teacher of site-0 is not used for source site-1');
  assert.ok(fs.existsSync(`${fx.stateDir}/models/teacher.skdm.bad`), 'the old teacher is kept aside');
});
