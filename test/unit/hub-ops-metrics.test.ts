/**
 * The hub's operator view without MQTT: a real site registry and sample store on disk, telemetry and finished jobs
 * fed to the FleetView, and the Prometheus text the metrics registry renders from them. Rounds are counted by
 * outcome with their durations; failed rounds in a row raise `rounds-failing` (a skipped round does not reset the
 * run, a rejected one does); drift above the threshold and an offline agent raise their alerts; a site that is no
 * longer served loses its gauge series.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Job } from '../../hub/jobs/job-queue';
import type { RedistillResult } from '../../hub/jobs/redistill-job';
import { siteAlerts } from '../../hub/ops/alerts';
import { FleetView } from '../../hub/ops/fleet-view';
import { createMetrics } from '../../hub/ops/metrics';
import { SiteRegistry } from '../../hub/sites/site-registry';
import type { Telemetry } from '../../shared/protocol/messages';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text';
import { makeBatch, open, tempDir } from '../helpers/sample-store-fixtures';

const T0 = 1_800_000_000_000;
const thresholds = { driftAlertThreshold: 0.15, roundsFailingAlert: 2 };

function telemetry(over: Partial<Telemetry> = {}): Telemetry {
  return {
    ts: T0, windowsPerSec: 0.39, readingsPerSec: 50, inferP50Ms: 0.4, inferP99Ms: 2.5, outboxDepth: 4, outboxBytes: 9000, bytesUploaded: 0,
    driftScore: 0.05, tensors: 1, tfBytes: 1, rssBytes: 1, modelVersion: '1-00000000', dropped: {}, ...over,
  };
}

function job(id: string, state: Job<RedistillResult>['state'], over: Partial<Job<RedistillResult>> = {}): Job<RedistillResult> {
  return {
    id, site: 's1', trigger: 'command', state, progress: 1, note: undefined, queuedAt: T0, startedAt: T0 + 1000, finishedAt: T0 + 13_500,
    result: undefined, error: undefined, skipReason: undefined, ...over,
  };
}

const rejected = { outcome: 'rejected', candidateAgreement: 0.8, currentAgreement: 0.85, windows: 200, heldOut: 100, seconds: 12.5, trainSeconds: 10, reasons: ['not shown to be not worse'], gate: {}, currentVersion: '1-00000000' } as unknown as RedistillResult;

test('rounds by outcome, durations, failing runs and alerts, as metrics and as data', async (t) => {
  const dir = await tempDir(t);
  let now = T0;
  const registry = await SiteRegistry.open(path.join(dir, 'registry.json'), { now: () => now, staleAfterMs: 60_000 });
  const store = await open(path.join(dir, 'samples'));
  await store.addBatch('s1', makeBatch('m-1'));
  await registry.setModelVersion('s1', '1-00000000');
  registry.handleStatus('s1', 'gw-1', { state: 'online', agentVersion: '0.1.0', modelVersion: '1-00000000', backend: 'wasm' });
  registry.handleStatus('s1', 'gw-2', { state: 'online', agentVersion: '0.1.0', modelVersion: '1-00000000', backend: 'wasm' });
  registry.handleStatus('s1', 'gw-2', { state: 'offline' });
  const view = new FleetView();
  view.recordTelemetry('s1', 'gw-1', telemetry({ driftScore: 0.2 }), now);
  let sites = ['s1', 's2'];
  const metrics = createMetrics({ registry, store, view, thresholds, sites: () => sites, now: () => now, ready: () => true, jobs: () => ({ running: 0, queued: 1 }) });

  view.recordRound(job('j-1', 'failed', { error: { code: 'SITEKD_ERR_MODEL_CORRUPT', message: 'non-finite' } }));
  assert.equal(view.failedInARow('s1'), 1);
  view.recordRound(job('j-2', 'skipped', { startedAt: undefined, skipReason: 'too few windows' }));
  assert.equal(view.failedInARow('s1'), 1, 'a skipped round neither breaks nor extends the run');
  view.recordRound(job('j-3', 'failed', { error: { code: 'SITEKD_ERR_MODEL_CORRUPT', message: 'non-finite' } }));
  now += 30_000;

  let s = parsePrometheusText(await metrics.metrics());
  assert.equal(sampleValue(s, 'sitekd_rounds_total', { site: 's1', outcome: 'failed' }), 2);
  assert.equal(sampleValue(s, 'sitekd_rounds_total', { site: 's1', outcome: 'skipped' }), 1);
  assert.equal(sampleValue(s, 'sitekd_rounds_total', { site: 's2', outcome: 'published' }), 0);
  assert.equal(sampleValue(s, 'sitekd_round_duration_seconds_count', { site: 's1' }), 2, 'skipped rounds have no duration');
  assert.equal(sampleValue(s, 'sitekd_round_duration_seconds_sum', { site: 's1' }), 25);
  assert.equal(sampleValue(s, 'sitekd_round_duration_seconds_bucket', { site: 's1', le: '10' }), 0);
  assert.equal(sampleValue(s, 'sitekd_round_duration_seconds_bucket', { site: 's1', le: '30' }), 2);
  assert.equal(sampleValue(s, 'sitekd_alert_rounds_failing', { site: 's1' }), 1);
  assert.equal(sampleValue(s, 'sitekd_agents_online', { site: 's1' }), 1);
  assert.equal(sampleValue(s, 'sitekd_agents', { site: 's1', state: 'offline' }), 1);
  assert.equal(sampleValue(s, 'sitekd_alert_agent_offline', { site: 's1', agent: 'gw-2' }), 1);
  assert.equal(sampleValue(s, 'sitekd_alert_drift', { site: 's1', agent: 'gw-1' }), 1);
  assert.equal(sampleValue(s, 'sitekd_agent_inference_p99_seconds', { site: 's1', agent: 'gw-1' }), 0.0025);
  assert.equal(sampleValue(s, 'sitekd_agent_outbox_depth', { site: 's1', agent: 'gw-2' }), undefined, 'no telemetry, no series');
  assert.equal(sampleValue(s, 'sitekd_model_version_age_seconds', { site: 's1' }), 30);
  assert.equal(sampleValue(s, 'sitekd_jobs', { state: 'queued' }), 1);
  assert.equal(sampleValue(s, 'sitekd_store_bytes', {}), store.stats().bytes);
  assert.equal(sampleValue(s, 'sitekd_store_disk_bytes', {}), store.stats().bytes + 4, 'one pack: the batch and its length prefix');
  assert.deepEqual(siteAlerts('s1', registry.agents('s1'), view, thresholds).map((a) => [a.kind, a.agent]), [
    ['drift', 'gw-1'], ['agent-offline', 'gw-2'], ['rounds-failing', undefined],
  ]);

  // A rejected round ends the run of failures; the agent that is online but silent becomes stale, then an alert.
  view.recordRound(job('j-4', 'done', { result: rejected }));
  assert.equal(view.lastRound('s1')?.candidateAgreement, 0.8);
  now += 61_000;
  sites = ['s1'];
  s = parsePrometheusText(await metrics.metrics());
  assert.equal(sampleValue(s, 'sitekd_rounds_total', { site: 's1', outcome: 'rejected' }), 1);
  assert.equal(sampleValue(s, 'sitekd_alert_rounds_failing', { site: 's1' }), 0);
  assert.equal(sampleValue(s, 'sitekd_agents_online', { site: 's1' }), 0);
  assert.equal(sampleValue(s, 'sitekd_alert_agent_offline', { site: 's1', agent: 'gw-1' }), 1);
  assert.equal(sampleValue(s, 'sitekd_store_windows', { site: 's2' }), undefined, 'a site no longer served has no series');
});

test('telemetry is kept for a bounded number of agents per site, the oldest updated dropped first', () => {
  const view = new FleetView();
  for (let i = 0; i <= 1000; i++) view.recordTelemetry('s1', `a-${i}`, telemetry(), T0 + i);
  view.recordTelemetry('s1', 'a-1', telemetry(), T0 + 2000);
  view.recordTelemetry('s1', 'a-new', telemetry(), T0 + 2001);
  const agents = view.telemetryAgents('s1');
  assert.equal(agents.length, 1000);
  assert.ok(!agents.includes('a-0') && !agents.includes('a-2'));
  assert.ok(agents.includes('a-1') && agents.includes('a-new'));
});
