/**
 * The dashboard history (hub/ops/site-history.ts, history-file.ts) without a hub: telemetry and store observations
 * fall into per-minute buckets (rates summed over agents, confidence weighted by windows, class counts summed,
 * uploads from the store's sequence number); the series stays within its bounds; it survives a write and a read of
 * the state file; a damaged file is SITEKD_ERR_HISTORY_CORRUPT, moved aside, and the history starts empty.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { isSitekdError, ErrorCode } from '../../shared/errors';
import type { Telemetry } from '../../shared/protocol/messages';
import type { RoundSummary } from '../../hub/ops/fleet-view';
import { loadHistoryFile, readHistoryFile, writeHistoryFile } from '../../hub/ops/history-file';
import { MAX_ROUNDS, SiteHistory } from '../../hub/ops/site-history';
import { tempDir } from '../helpers/sample-store-fixtures';

const T0 = 1_800_000_000_000; // a whole minute
const MIN = 60_000;

function telemetry(over: Partial<Telemetry> = {}): Telemetry {
  return {
    ts: T0, windowsPerSec: 1, readingsPerSec: 50, inferP50Ms: 0.4, inferP99Ms: 2.5, outboxDepth: 0, outboxBytes: 0, bytesUploaded: 0,
    driftScore: null, tensors: 1, tfBytes: 1, rssBytes: 1, modelVersion: '1-00000000', dropped: {}, ...over,
  };
}

function round(jobId: string, outcome: RoundSummary['outcome'], version: string | null = null): RoundSummary {
  return { jobId, outcome, trigger: 'command', finishedAt: T0, seconds: 3, version, candidateAgreement: 0.9, currentAgreement: 0.8, windows: 200, heldOut: 50, reasons: [], error: null };
}

test('telemetry and store observations are bucketed per minute and per site', () => {
  const h = new SiteHistory();
  h.observe('s1', T0, 100, 2); // the first observation is the baseline: no uploads counted yet
  h.telemetry('s1', 'a', telemetry({ windowsPerSec: 2, classCounts: [3, 1], meanConfidence: 0.9, driftScore: 0.1 }), T0 + 1000);
  h.telemetry('s1', 'a', telemetry({ windowsPerSec: 4, classCounts: [0, 0, 4], meanConfidence: 0.5, driftScore: 0.3 }), T0 + 30_000);
  h.telemetry('s1', 'b', telemetry({ windowsPerSec: 1 }), T0 + 40_000); // an agent before issue 9: no mix, no confidence
  h.observe('s1', T0 + 50_000, 160, 1);
  h.telemetry('s2', 'c', telemetry({ windowsPerSec: 7 }), T0 + 50_000);
  h.telemetry('s1', 'a', telemetry({ windowsPerSec: 5, classCounts: [1], meanConfidence: 1 }), T0 + MIN + 5);
  h.observe('s1', T0 + MIN + 10, 170, 1);

  const { points } = h.get('s1');
  assert.equal(points.length, 2);
  const [p0, p1] = points;
  // a's mean rate (3) plus b's (1); confidence weighted by each interval's windows; drift the mean of the scores
  assert.deepEqual(p0, { t: T0, windowsPerSec: 4, confidence: (0.9 * 4 + 0.5 * 4) / 8, drift: 0.2, classCounts: [3, 1, 4], uploads: 60, agentsOnline: 1 });
  assert.deepEqual(p1, { t: T0 + MIN, windowsPerSec: 5, confidence: 1, drift: null, classCounts: [1], uploads: 10, agentsOnline: 1 });
  assert.deepEqual(h.get('s2').points.map((p) => p.windowsPerSec), [7]);
  assert.deepEqual(h.get('nowhere'), { points: [], rounds: [] });
});

test('the series is bounded: points per site, rounds per site; skipped rounds are left out', () => {
  const h = new SiteHistory({ bucketMs: 1000, maxPoints: 5 });
  for (let i = 0; i < 20; i++) h.telemetry('s1', 'a', telemetry({ windowsPerSec: i }), T0 + i * 1000);
  const { points } = h.get('s1');
  assert.equal(points.length, 6); // 5 closed points and the open bucket
  assert.deepEqual(points.map((p) => p.windowsPerSec), [14, 15, 16, 17, 18, 19]);
  for (let i = 0; i < MAX_ROUNDS + 10; i++) h.round('s1', round(`j${i}`, i % 2 === 0 ? 'rejected' : 'skipped'));
  h.round('s1', round('last', 'published', '2-abcdef01'));
  const { rounds } = h.get('s1');
  assert.ok(rounds.length <= MAX_ROUNDS);
  assert.ok(rounds.every((r) => r.outcome !== 'skipped'));
  assert.equal(rounds.at(-1)?.version, '2-abcdef01');
});

test('the history survives a write and a read of its state file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'ops-history.json');
  const h = new SiteHistory();
  h.telemetry('s1', 'a', telemetry({ windowsPerSec: 2, classCounts: [2, 2], meanConfidence: 0.75 }), T0);
  h.telemetry('s1', 'a', telemetry({ windowsPerSec: 3 }), T0 + MIN);
  h.round('s1', round('j1', 'published', '2-abcdef01'));
  await writeHistoryFile(file, h.toFile());

  const back = new SiteHistory();
  back.load((await readHistoryFile(file)) as NonNullable<Awaited<ReturnType<typeof readHistoryFile>>>);
  assert.deepEqual(back.get('s1'), h.get('s1'));
  // A restarted hub goes on after the loaded points.
  back.telemetry('s1', 'a', telemetry({ windowsPerSec: 9 }), T0 + 2 * MIN);
  assert.deepEqual(back.get('s1').points.map((p) => p.windowsPerSec), [2, 3, 9]);
  assert.equal(await readHistoryFile(path.join(dir, 'missing.json')), undefined);
});

test('a damaged history file is SITEKD_ERR_HISTORY_CORRUPT, set aside, and the history starts empty', async (t) => {
  const dir = await tempDir(t);
  const cases: Record<string, string> = {
    'not-json.json': '{"format":1,',
    'schema.json': JSON.stringify({ format: 1, bucketMs: 60000, sites: { s1: { points: [{ t: 0, windowsPerSec: -1 }], rounds: [] } } }),
    'format.json': JSON.stringify({ format: 2, bucketMs: 60000, sites: {} }),
  };
  for (const [name, text] of Object.entries(cases)) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    await assert.rejects(readHistoryFile(file), (err) => isSitekdError(err, ErrorCode.HISTORY_CORRUPT), name);
    const problems: string[] = [];
    assert.equal(await loadHistoryFile(file, (err) => problems.push(err.code)), undefined);
    assert.deepEqual(problems, [ErrorCode.HISTORY_CORRUPT]);
    assert.equal(fs.existsSync(file), false);
    assert.equal(fs.readFileSync(`${file}.bad`, 'utf8'), text);
  }
});
