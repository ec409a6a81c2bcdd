import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { SiteRegistry, type AgentStatus } from '../../hub/sites/site-registry';

async function registryFile(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sitekd-registry-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'registry.json');
}

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const birth = (over: Partial<Extract<AgentStatus, { state: 'online' }>> = {}): AgentStatus => ({
  state: 'online',
  agentVersion: '0.1.0',
  modelVersion: 'v1',
  backend: 'wasm',
  ...over,
});

test('a birth makes an agent online with its versions, a last will makes it offline', async (t) => {
  const clock = fakeClock();
  const reg = await SiteRegistry.open(await registryFile(t), clock);
  reg.handleStatus('s1', 'a1', birth());
  assert.deepEqual(reg.agents('s1'), [
    { site: 's1', agent: 'a1', state: 'online', agentVersion: '0.1.0', modelVersion: 'v1', backend: 'wasm', lastSeenAt: 1_000_000, since: 1_000_000 },
  ]);
  clock.advance(500);
  reg.touch('s1', 'a1');
  clock.advance(1000);
  reg.handleStatus('s1', 'a1', { state: 'offline' });
  const [a] = reg.agents('s1');
  assert.equal(a?.state, 'offline');
  assert.equal(a?.lastSeenAt, 1_000_500, 'the will does not count as a sign of life');
  assert.equal(a?.since, 1_001_500);
  assert.equal(a?.modelVersion, 'v1', 'the last known versions are kept');
  clock.advance(1000);
  reg.handleStatus('s1', 'a1', { state: 'offline' }); // retained will redelivered
  assert.equal(reg.agents('s1')[0]?.since, 1_001_500);
  reg.handleStatus('s1', 'a1', birth({ modelVersion: 'v2', backend: 'tensorflow' }));
  assert.deepEqual([reg.agents('s1')[0]?.state, reg.agents('s1')[0]?.modelVersion, reg.agents('s1')[0]?.backend], ['online', 'v2', 'tensorflow']);
});

test('other messages refresh last-seen and the model version, but only a birth makes an agent online', async (t) => {
  const clock = fakeClock();
  const reg = await SiteRegistry.open(await registryFile(t), clock);
  reg.handleStatus('s1', 'a1', { state: 'offline' });
  clock.advance(10);
  reg.touch('s1', 'a1', { modelVersion: 'v3' });
  assert.deepEqual([reg.agents('s1')[0]?.state, reg.agents('s1')[0]?.lastSeenAt, reg.agents('s1')[0]?.modelVersion], ['offline', 1_000_010, 'v3']);
});

test('an online agent silent for longer than staleAfterMs is reported stale', async (t) => {
  const clock = fakeClock();
  const reg = await SiteRegistry.open(await registryFile(t), { ...clock, staleAfterMs: 60_000 });
  reg.handleStatus('s1', 'a1', birth());
  clock.advance(60_000);
  assert.equal(reg.agents('s1')[0]?.state, 'online');
  clock.advance(1);
  assert.equal(reg.agents('s1')[0]?.state, 'stale');
  reg.touch('s1', 'a1');
  assert.equal(reg.agents('s1')[0]?.state, 'online');
});

test('the published model version and the last redistillation survive a restart; agents do not', async (t) => {
  const file = await registryFile(t);
  const clock = fakeClock();
  const reg = await SiteRegistry.open(file, clock);
  reg.handleStatus('s1', 'a1', birth());
  await reg.setModelVersion('s1', 'v2');
  clock.advance(5);
  await reg.recordRedistill('s1', { at: clock.now(), outcome: 'published', jobId: 'j1', modelVersion: 'v2', seqMarker: 420 });
  await reg.recordRedistill('s2', { at: clock.now(), outcome: 'failed', code: ErrorCode.DISTILL_NONFINITE, message: 'loss NaN' });
  const again = await SiteRegistry.open(file, clock);
  assert.deepEqual(again.problems, []);
  assert.deepEqual(again.sites(), ['s1', 's2']);
  assert.equal(again.modelVersion('s1'), 'v2');
  assert.equal(again.site('s1')?.modelVersionAt, 1_000_000);
  assert.deepEqual(again.lastRedistill('s1'), { at: 1_000_005, outcome: 'published', jobId: 'j1', modelVersion: 'v2', seqMarker: 420 });
  assert.equal(again.lastRedistill('s2')?.outcome, 'failed');
  assert.equal(again.modelVersion('s2'), undefined);
  assert.deepEqual(again.agents('s1'), [], 'liveness comes back from the retained status messages, not the file');
});

test('the registry file is written atomically and reads as plain JSON', async (t) => {
  const file = await registryFile(t);
  const reg = await SiteRegistry.open(file, fakeClock());
  await reg.setModelVersion('__proto__', 'v1');
  const names = await fs.readdir(path.dirname(file));
  assert.deepEqual(names, ['registry.json'], 'no temp file is left');
  const json: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
  assert.deepEqual(json, {
    version: 1,
    sites: [{ site: '__proto__', modelVersion: 'v1', modelVersionAt: 1_000_000, highestVersion: 0, models: [{ version: 'v1', at: 1_000_000, kind: 'published' }] }],
  });
  assert.equal((await SiteRegistry.open(file, fakeClock())).modelVersion('__proto__'), 'v1', 'a site named __proto__ is just a site');
});

test('a rollback is in the model history, and the highest version number survives it and a restart', async (t) => {
  const file = await registryFile(t);
  const clock = fakeClock();
  const reg = await SiteRegistry.open(file, clock);
  await reg.setModelVersion('s1', '1-aaaaaaaa');
  await reg.setModelVersion('s1', '2-bbbbbbbb');
  await reg.setModelVersion('s1', '3-cccccccc');
  clock.advance(7);
  await reg.recordModel('s1', { version: '2-bbbbbbbb', at: clock.now(), kind: 'rollback', from: '3-cccccccc', reason: 'worse', trigger: 'command' });
  const again = await SiteRegistry.open(file, clock);
  assert.equal(again.modelVersion('s1'), '2-bbbbbbbb');
  assert.equal(again.site('s1')?.modelVersionAt, 1_000_007);
  assert.equal(again.highestVersionNumber('s1'), 3, 'the number rolled back from is never reused');
  assert.deepEqual(again.modelHistory('s1').map((r) => [r.version, r.kind, r.from]), [
    ['1-aaaaaaaa', 'published', undefined], ['2-bbbbbbbb', 'published', undefined], ['3-cccccccc', 'published', undefined], ['2-bbbbbbbb', 'rollback', '3-cccccccc'],
  ]);
});

test('a registry file from before model histories still gives the highest version from its current one', async (t) => {
  const file = await registryFile(t);
  await fs.writeFile(file, JSON.stringify({ version: 1, sites: [{ site: 's1', modelVersion: '4-aaaaaaaa', modelVersionAt: 5 }] }));
  const reg = await SiteRegistry.open(file, fakeClock());
  assert.deepEqual(reg.problems, []);
  assert.equal(reg.highestVersionNumber('s1'), 4);
  assert.deepEqual(reg.modelHistory('s1'), []);
});

test('a rollout watch persists until it ends, and its outcome marks the version in the history', async (t) => {
  const file = await registryFile(t);
  const reg = await SiteRegistry.open(file, fakeClock());
  await reg.setModelVersion('s1', '2-bbbbbbbb');
  const w = { version: '2-bbbbbbbb', previous: '1-aaaaaaaa', sinceSeq: 40, startedAt: 1, looks: 0 };
  await reg.setWatch('s1', w, { version: '2-bbbbbbbb', outcome: 'watching' });
  await reg.setWatch('s1', { ...w, looks: 1 });
  let again = await SiteRegistry.open(file, fakeClock());
  assert.deepEqual(again.watch('s1'), { ...w, looks: 1 });
  assert.deepEqual(again.watchedSites(), ['s1']);
  assert.equal(again.modelHistory('s1').at(-1)?.rollout, 'watching');
  await again.setWatch('s1', undefined, { version: '2-bbbbbbbb', outcome: 'confirmed' });
  again = await SiteRegistry.open(file, fakeClock());
  assert.equal(again.watch('s1'), undefined);
  assert.deepEqual(again.watchedSites(), []);
  assert.equal(again.modelHistory('s1').at(-1)?.rollout, 'confirmed');
});

test('concurrent changes all reach the disk', async (t) => {
  const file = await registryFile(t);
  const reg = await SiteRegistry.open(file, fakeClock());
  await Promise.all(Array.from({ length: 20 }, (_, i) => reg.setModelVersion(`s${i}`, `v${i}`)));
  const again = await SiteRegistry.open(file, fakeClock());
  assert.equal(again.sites().length, 20);
  assert.equal(again.modelVersion('s19'), 'v19');
});

test('a corrupt registry file is quarantined and reported, and the hub starts empty', async (t) => {
  const file = await registryFile(t);
  for (const content of ['{"version":1,"sites":[{"site":"s1","modelVersion":7}]}', '{ torn', '']) {
    await fs.writeFile(file, content);
    const reg = await SiteRegistry.open(file, fakeClock());
    assert.equal(reg.problems.length, 1, content);
    assert.equal(reg.problems[0]?.code, ErrorCode.STORE_CORRUPT);
    assert.deepEqual(reg.sites(), []);
    assert.equal(await fs.readFile(`${file}.bad`, 'utf8'), content);
    await reg.setModelVersion('s1', 'v1');
    assert.equal((await SiteRegistry.open(file, fakeClock())).modelVersion('s1'), 'v1');
  }
});

test('a failed write is STORE_WRITE, and the next change writes the whole state', async (t) => {
  const file = await registryFile(t);
  const reg = await SiteRegistry.open(file, fakeClock());
  await fs.mkdir(`${file}.tmp`); // the temp file cannot be created: the write fails, even for root
  await assert.rejects(reg.setModelVersion('s1', 'v1'), (e) => isSitekdError(e, ErrorCode.STORE_WRITE));
  assert.equal(reg.modelVersion('s1'), 'v1', 'memory is updated anyway');
  await fs.rmdir(`${file}.tmp`);
  await reg.setModelVersion('s2', 'v9');
  const again = await SiteRegistry.open(file, fakeClock());
  assert.deepEqual([again.modelVersion('s1'), again.modelVersion('s2')], ['v1', 'v9']);
});

test('new-window counters count up and can be set from the sample store', async (t) => {
  const reg = await SiteRegistry.open(await registryFile(t), fakeClock());
  assert.equal(reg.newWindows('s1'), 0);
  assert.equal(reg.addNewWindows('s1', 32), 32);
  assert.equal(reg.addNewWindows('s1', 16), 48);
  reg.setNewWindows('s1', 5);
  assert.equal(reg.newWindows('s1'), 5);
  assert.deepEqual(reg.sites(), ['s1']);
  assert.equal(reg.site('s1')?.newWindows, 5);
  assert.equal(reg.site('nowhere'), undefined);
});

test('site info shows the rollout: online agents on the published version', async (t) => {
  const reg = await SiteRegistry.open(await registryFile(t), fakeClock());
  await reg.setModelVersion('s1', 'v2');
  reg.handleStatus('s1', 'a1', birth({ modelVersion: 'v1' }));
  reg.handleStatus('s1', 'a2', birth({ modelVersion: 'v2' }));
  reg.handleStatus('s1', 'a3', birth({ modelVersion: 'v2' }));
  reg.handleStatus('s1', 'a3', { state: 'offline' });
  assert.deepEqual(reg.site('s1')?.rollout, { online: 2, onVersion: 1 });
  reg.touch('s1', 'a1', { modelVersion: 'v2' });
  assert.deepEqual(reg.site('s1')?.rollout, { online: 2, onVersion: 2 });
  assert.deepEqual(reg.snapshot().map((s) => [s.site, s.agents.length]), [['s1', 3]]);
});
