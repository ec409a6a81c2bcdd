/**
 * The hub restores its retained model topics (issue 8 finding 4): another client deletes the retained manifest of a
 * site, or replaces one of its chunks with other bytes; within a few seconds a fresh subscriber again finds the hub's
 * own manifest (same signature) and chunks that reassemble to the artifact. Its own publications never trigger a
 * republish (the log says when one happens).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChunkAssembler } from '../../shared/protocol/chunks';
import { decode } from '../../shared/protocol/codec';
import { ModelManifestSchema, type ModelManifest } from '../../shared/protocol/messages';
import { modelChunkTopic, modelTopic, parseTopic } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import type { Hub } from '../../hub/hub';
import { connectClient, makeFixture, startHub, type Fixture } from './hub-fixture';

const SITE = 'site-1';
let fx: Fixture;
let hub: Hub;
let intruder: MqttTransport;
const logs: string[] = [];
const clients: MqttTransport[] = [];

before(async () => {
  fx = makeFixture('retained');
  hub = await startHub(fx.config({ sites: [SITE] }), logs);
  intruder = await connectClient(hub.url, 'intruder');
  clients.push(intruder);
});

after(async () => {
  for (const c of clients) await c.close(true).catch(() => undefined);
  await hub?.stop();
  fx.cleanup();
});

/** What a fresh subscriber finds retained for the site: the manifest (if any) and whether its chunks reassemble. */
async function retained(): Promise<{ manifest: ModelManifest | undefined; complete: boolean }> {
  const c = await connectClient(hub.url, `look-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`);
  clients.push(c);
  let manifest: ModelManifest | undefined;
  const chunks = new Map<string, Map<number, Buffer>>();
  await c.subscribe(`sitekd/v1/${SITE}/model/#`, (topic, payload) => {
    const t = parseTopic(topic);
    if (t?.kind === 'modelChunk' && payload.length > 0) chunks.set(t.version, (chunks.get(t.version) ?? new Map()).set(t.index, payload));
  });
  await c.subscribe(modelTopic(SITE), (_t, payload) => {
    const r = decode(ModelManifestSchema, payload);
    if (r.ok) manifest = r.value;
  });
  await new Promise((r) => setTimeout(r, 300));
  await c.close(true);
  if (manifest === undefined) return { manifest, complete: false };
  const a = new ChunkAssembler(manifest);
  for (const [i, b] of chunks.get(manifest.version) ?? []) a.add(i, b);
  return { manifest, complete: a.isComplete() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
  }
}

test('a deleted retained manifest and a replaced chunk come back from the hub; its own publications restore nothing', async () => {
  const original = await until('the site model', async () => (await retained()).manifest);
  assert.equal(logs.filter((l) => l.includes('restoring')).length, 0, 'start-up publications are not mistaken for tampering');

  await intruder.publish(modelTopic(SITE), new Uint8Array(0), { qos: 1, retain: true });
  assert.equal((await retained()).manifest, undefined, 'the intruder deleted it');
  await until('manifest restored', async () => (await retained()).manifest?.signature === original.signature);

  await intruder.publish(modelChunkTopic(SITE, original.version, 0), new Uint8Array([1, 2, 3]), { qos: 1, retain: true });
  assert.equal((await retained()).complete, false, 'the intruder damaged it');
  await until('chunk restored', async () => (await retained()).complete);
  assert.equal(logs.filter((l) => l.includes('restoring it')).length, 2, logs.join('\n'));
});
