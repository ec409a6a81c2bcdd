/**
 * The pieces of several hubs on one state directory (hub/shard/): rendezvous ownership, per-site lease locks, the
 * per-site registry files, and the setup lock that makes the key and teacher once.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ownerOf } from '../../hub/shard/rendezvous';
import { withSetupLock } from '../../hub/shard/shared-state';
import { SiteLocks, SITE_LOCK_FILE } from '../../hub/shard/site-lock';
import { SiteRegistry } from '../../hub/sites/site-registry';
import { systemClock } from '../../shared/clock';
import { hubMemberStatusTopic, parseHubMemberStatus, replyTopic, sub } from '../../shared/protocol/topics';
import { grantsFor, mayPublish, maySubscribe, mosquittoAcl } from '../../hub/auth/policy';
import { testLogger } from '../integration/hub-fixture';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-shard-'));
const sites = Array.from({ length: 300 }, (_, i) => `site-${i}`);

test('rendezvous: every hub computes the same owner; a hub leaving moves only its own sites', () => {
  const three = ['a', 'b', 'c'];
  const before = new Map(sites.map((s) => [s, ownerOf(s, three)]));
  assert.deepEqual(sites.map((s) => ownerOf(s, ['c', 'a', 'b'])), [...before.values()], 'order of the live set does not matter');
  for (const h of three) {
    const n = [...before.values()].filter((o) => o === h).length;
    assert.ok(n > 60 && n < 140, `${h} owns ${n} of 300`);
  }
  const after = sites.map((s) => ownerOf(s, ['a', 'c']));
  sites.forEach((s, i) => {
    if (before.get(s) !== 'b') assert.equal(after[i], before.get(s), `${s} stays where it was`);
    else assert.notEqual(after[i], 'b');
  });
  assert.equal(ownerOf('site-1', []), undefined);
});

test('member status topics: built and parsed; a reply topic of a client named status is not one', () => {
  assert.equal(hubMemberStatusTopic('hub-a'), 'sitekd/v1/hub/hub-a/status');
  assert.equal(parseHubMemberStatus('sitekd/v1/hub/hub-a/status'), 'hub-a');
  assert.equal(parseHubMemberStatus(replyTopic('status')), undefined);
  assert.equal(parseHubMemberStatus('sitekd/v1/hub/status'), undefined);
  assert.throws(() => hubMemberStatusTopic('reply'), /reserved/);
});

test('site locks: one holder; a live lease refuses, an ended lease or a dead pid on this host is taken over', () => {
  const dir = tmp();
  let now = 1_000_000;
  const siteDir = (s: string): string => path.join(dir, 'sites', s);
  const a = new SiteLocks({ siteDir, hubId: 'a', leaseMs: 15_000, now: () => now });
  const b = new SiteLocks({ siteDir, hubId: 'b', leaseMs: 15_000, now: () => now });
  assert.deepEqual(a.tryAcquire('s1'), { ok: true });
  const refused = b.tryAcquire('s1');
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.owner?.hub, 'a');
  now += 10_000;
  assert.equal(a.refresh('s1'), true);
  now += 10_000; // 20 s after the start, 10 s after the refresh: still valid
  assert.equal(b.tryAcquire('s1').ok, false);
  now += 6_000; // the lease ended: a stopped refreshing
  assert.deepEqual(b.tryAcquire('s1'), { ok: true });
  assert.equal(a.refresh('s1'), false, 'a learns it lost the lock');
  assert.deepEqual(a.held(), []);
  a.release('s1');
  assert.ok(fs.existsSync(path.join(siteDir('s1'), SITE_LOCK_FILE)), 'a release by a loser leaves the winner\'s lock');
  b.release('s1');
  assert.ok(!fs.existsSync(path.join(siteDir('s1'), SITE_LOCK_FILE)));

  // A lock of another process on this host, lease still running: taken only when that pid is gone.
  fs.mkdirSync(siteDir('s2'), { recursive: true });
  const foreign = { hub: 'x', pid: 999_999, host: os.hostname(), token: 't', expiresAt: now + 60_000 };
  fs.writeFileSync(path.join(siteDir('s2'), SITE_LOCK_FILE), JSON.stringify(foreign));
  const alive = new SiteLocks({ siteDir, hubId: 'c', leaseMs: 15_000, now: () => now, isAlive: () => true });
  assert.equal(alive.tryAcquire('s2').ok, false);
  const dead = new SiteLocks({ siteDir, hubId: 'c', leaseMs: 15_000, now: () => now, isAlive: () => false });
  assert.deepEqual(dead.tryAcquire('s2'), { ok: true });
  // Another host's lock is judged by its lease only.
  fs.mkdirSync(siteDir('s3'), { recursive: true });
  fs.writeFileSync(path.join(siteDir('s3'), SITE_LOCK_FILE), JSON.stringify({ ...foreign, host: 'elsewhere' }));
  assert.equal(dead.tryAcquire('s3').ok, false);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('per-site registry: a site taken by another hub continues its model versions', async () => {
  const dir = tmp();
  const fileFor = (s: string): string => path.join(dir, `${s}.json`);
  const a = SiteRegistry.perSite(fileFor, { now: () => 1 });
  await a.adopt('s1');
  await a.recordModel('s1', { version: '3-abcdef01', at: 1, kind: 'published' });
  await a.release('s1');
  assert.deepEqual(a.sites(), []);
  const b = SiteRegistry.perSite(fileFor, { now: () => 2 });
  assert.deepEqual(await b.adopt('s1'), []);
  assert.equal(b.modelVersion('s1'), '3-abcdef01');
  assert.equal(b.highestVersionNumber('s1'), 3);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('setup lock: two hubs starting together do the hub-wide work one after the other', async () => {
  const dir = tmp();
  const order: string[] = [];
  const work = (id: string) => async (): Promise<void> => {
    order.push(`${id} in`);
    await new Promise((r) => setTimeout(r, 300));
    order.push(`${id} out`);
  };
  const o = { clock: systemClock, log: testLogger([]), maxWaitMs: 10_000 };
  await Promise.all([withSetupLock(dir, o, work('a')), withSetupLock(dir, o, work('b'))]);
  assert.deepEqual(order.map((x) => x.split(' ')[1]), ['in', 'out', 'in', 'out']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('ACL: several hub identities (hub-a, hub-b) each get the hub role\'s rights, also on the member status topics', () => {
  const ids = ['hub-a', 'hub-b'].map((user) => ({ user, role: 'hub' as const, topics: [], read: [] }));
  for (const id of ids) {
    const g = grantsFor(id);
    assert.ok(mayPublish(g, hubMemberStatusTopic(id.user)) && mayPublish(g, 'sitekd/v1/site-1/gw-1/samples/ack'));
    assert.ok(maySubscribe(g, sub.hubMembers()) && maySubscribe(g, sub.siteSamples('site-1')));
  }
  const acl = mosquittoAcl(ids);
  for (const u of ['hub-a', 'hub-b']) assert.match(acl, new RegExp(`user ${u}\\ntopic readwrite sitekd/v1/#`));
});
