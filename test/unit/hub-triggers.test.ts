import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Triggers } from '../../hub/jobs/triggers';
import type { JobTrigger } from '../../hub/jobs/job-events';
import { SiteRegistry } from '../../hub/sites/site-registry';
import { silentLogger } from '../../shared/log';
import { ManualClock } from '../helpers/manual-clock';

async function setup(t: TestContext, cooldownMinutes: number): Promise<{ clock: ManualClock; registry: SiteRegistry; triggers: Triggers; queued: [string, JobTrigger][] }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sitekd-triggers-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(1_800_000_000_000);
  const registry = await SiteRegistry.open(path.join(dir, 'registry.json'), { now: () => clock.now() });
  const queued: [string, JobTrigger][] = [];
  const triggers = new Triggers({
    config: { schedule: null, minNewWindows: 10, cooldownMinutes },
    registry,
    sites: () => ['s1'],
    enqueue: (site, trigger) => void queued.push([site, trigger]),
    clock,
    log: silentLogger,
  });
  return { clock, registry, triggers, queued };
}

test('enough new windows queue a round at once when the site is out of its cooldown', async (t) => {
  const { triggers, queued } = await setup(t, 5);
  triggers.samplesStored('s1', 9);
  assert.deepEqual(queued, []);
  triggers.samplesStored('s1', 1);
  assert.deepEqual(queued, [['s1', 'samples']]);
});

test('within the cooldown the round is retried on the clock when the cooldown ends, once per site', async (t) => {
  const { clock, registry, triggers, queued } = await setup(t, 5);
  await registry.recordRedistill('s1', { at: clock.now(), outcome: 'published' });
  clock.advance(60_000);
  triggers.samplesStored('s1', 10);
  triggers.samplesStored('s1', 10); // a second batch must not start a second retry timer
  assert.deepEqual(queued, []);
  assert.equal(clock.pendingTimers, 1);
  // The cooldown ends 4 min later; the retry waits one more second so the rule sees it as over.
  clock.advance(4 * 60_000);
  assert.deepEqual(queued, []);
  clock.advance(1000);
  assert.deepEqual(queued, [['s1', 'samples']]);
  assert.equal(clock.pendingTimers, 0);
});

test('stop cancels pending retries', async (t) => {
  const { clock, registry, triggers, queued } = await setup(t, 5);
  await registry.recordRedistill('s1', { at: clock.now(), outcome: 'published' });
  triggers.samplesStored('s1', 10);
  assert.equal(clock.pendingTimers, 1);
  triggers.stop();
  assert.equal(clock.pendingTimers, 0);
  clock.advance(10 * 60_000);
  assert.deepEqual(queued, []);
});
