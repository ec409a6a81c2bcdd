import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '../../shared/protocol/codec';
import type { Prediction } from '../../shared/protocol/messages';
import { predictionsTopic } from '../../shared/protocol/topics';
import { SimScoreboard, type ScoreSiteInfo } from '../../sim/scoreboard';
import { SiteStream } from '../../sim/site-stream';

const T0 = 1_700_000_000_000;
const PERIOD = 20;
const L = 128;

/** A 1-channel stream of 128-sample windows with the given labels. */
function stream(labels: readonly number[]): SiteStream {
  const n = labels.length;
  return new SiteStream({ n, channels: 1, length: L, x: new Float32Array(n * L), y: Uint8Array.from(labels) });
}

function setup(labels: readonly number[] | SiteStream, issued = Array.isArray(labels) ? labels.length * L : (labels as SiteStream).samplesPerLoop) {
  let now = 1000;
  const clock = { now: () => now };
  const board = new SimScoreboard({ clock });
  let sent = issued;
  const info: ScoreSiteInfo = {
    site: 'site-1',
    kind: 'synthetic',
    subject: 'site-1',
    description: 'test site',
    t0: T0,
    periodMs: PERIOD,
    labels: labels instanceof SiteStream ? labels : stream(labels as readonly number[]),
    readingsIssued: () => sent,
  };
  board.addSite(info);
  return {
    board,
    advance: (ms: number) => {
      now += ms;
    },
    setIssued: (n: number) => {
      sent = n;
    },
  };
}

function pred(k0: number, cls: number, modelVersion = 's-1-0001', extra: Partial<Prediction> = {}): Prediction {
  const probs = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
  probs[cls] = 0.5;
  return { site: 'site-1', agent: 'gw-1', windowStart: T0 + k0 * PERIOD, cls, confidence: 0.5, probs, modelVersion, latencyMs: 2, ...extra };
}

const topic = predictionsTopic('site-1', 'gw-1');

describe('SimScoreboard', () => {
  test('scores against the window label; a stride-64 window straddling two windows takes the majority or is skipped on a tie', () => {
    const { board } = setup([0, 1, 1, 2]);
    assert.equal(board.score(pred(0, 0)).kind, 'correct');
    assert.equal(board.score(pred(128, 0)).kind, 'wrong');
    // [64, 192): 64 samples of label 0, 64 of label 1 → tie, skipped.
    assert.equal(board.score(pred(64, 1)).kind, 'tie');
    // [192, 320): 64 of window 1 and 64 of window 2, both label 1.
    assert.deepEqual(board.score(pred(192, 1)), { kind: 'correct', site: 'site-1', modelVersion: 's-1-0001', truth: 1 });
    // [100, 228): 28 of label 0, 100 of label 1.
    assert.deepEqual(board.score(pred(100, 0)), { kind: 'wrong', site: 'site-1', modelVersion: 's-1-0001', truth: 1 });
    const s = board.summary('site-1')!;
    assert.equal(s.predictions, 5);
    assert.equal(s.correct, 2);
    assert.equal(s.total, 4);
    assert.equal(s.accuracy, 0.5);
    assert.deepEqual(s.skipped, { tie: 1, outOfRange: 0 });
  });

  test('recorded stream: a window is scored by the majority of its samples\' own labels, across window and chain boundaries', () => {
    // One recording of 5 windows (L = 128, overlap 64): 384 samples of label 0 (windows 0-4 own 128, 64, 64, 64, 64
    // samples; labels 0, 0, 0, 2, 2), then a separate 128-sample window of label 1.
    const total = 128 + 4 * 64;
    const signal = Float32Array.from({ length: total }, (_, t) => t + 1);
    const rows: Float32Array[] = [0, 1, 2, 3, 4].map((p) => signal.slice(p * 64, p * 64 + 128));
    rows.push(Float32Array.from({ length: 128 }, (_, t) => -1 - t));
    const order = [5, 3, 0, 4, 1, 2]; // shuffled
    const x = new Float32Array(order.length * 128);
    order.forEach((w, i) => x.set(rows[w]!, i * 128));
    const labelsOf = [0, 0, 0, 2, 2, 1];
    const rec = new SiteStream({ n: 6, channels: 1, length: 128, x, y: Uint8Array.from(order.map((w) => labelsOf[w]!)) }, { order: 'recorded' });
    assert.equal(rec.samplesPerLoop, total + 128);
    // Chains play in the order of their first window: the lone window (set index 0) first, then the recording.
    assert.equal(rec.valuesAt(128)[0], 1);
    assert.equal(rec.valuesAt(128 + 200)[0], 201);
    const { board } = setup(rec, 10_000);
    const at = (k: number): number => 128 + k; // reading index of recording sample k
    // Samples 0-255 are label 0 (windows 0, 1, 2 own [0,128), [128,192), [192,256)), 256-383 label 2.
    assert.equal(board.score(pred(at(0), 0)).kind, 'correct');
    assert.equal(board.score(pred(at(100), 0)).kind, 'correct'); // [100, 228): all label 0, spans windows 0-2
    assert.equal(board.score(pred(at(192), 0)).kind, 'tie'); // [192, 320): 64 + 64
    assert.deepEqual(board.score(pred(at(200), 0)), { kind: 'wrong', site: 'site-1', modelVersion: 's-1-0001', truth: 2 }); // 56 vs 72
    assert.deepEqual(board.score(pred(64, 1)), { kind: 'tie', site: 'site-1', modelVersion: 's-1-0001' }); // 64 of the lone window, 64 of the recording
    assert.deepEqual(board.score(pred(63, 1)), { kind: 'correct', site: 'site-1', modelVersion: 's-1-0001', truth: 1 });
  });

  test('a windowStart off the 20 ms grid is rounded to the nearest reading', () => {
    const { board } = setup([3, 4]);
    assert.equal(board.score(pred(128, 4, 's-1', { windowStart: T0 + 128 * PERIOD + 7 })).kind, 'correct');
    assert.equal(board.score(pred(128, 4, 's-1', { windowStart: T0 + 128 * PERIOD - 9 })).kind, 'correct');
  });

  test('windows before the stream or beyond the readings sent are out of range', () => {
    const { board, setIssued } = setup([0, 1, 2], 200);
    assert.equal(board.score(pred(-1, 0)).kind, 'outOfRange');
    assert.equal(board.score(pred(72, 1)).kind, 'correct'); // [72, 200) is all sent; 72 of its readings are label 1
    assert.equal(board.score(pred(73, 1)).kind, 'outOfRange');
    setIssued(10_000);
    assert.equal(board.score(pred(73, 1)).kind, 'correct');
    // Looping: reading 384 is window 0 again.
    assert.equal(board.score(pred(384, 0)).kind, 'correct');
    assert.deepEqual(board.summary('site-1')!.skipped, { tie: 0, outOfRange: 2 });
  });

  test('accuracy per model version, in order of first appearance, with the latest version', () => {
    const { board, advance } = setup([0, 1]);
    board.score(pred(0, 0, 's-1-0001'));
    board.score(pred(128, 0, 's-1-0001'));
    advance(500);
    board.score(pred(0, 0, 's-1-0002'));
    board.score(pred(128, 1, 's-1-0002'));
    board.score(pred(128, 1, 's-1-0002'));
    board.score(pred(64, 1, 's-1-0002')); // tie: seen, not scored
    const s = board.summary('site-1')!;
    assert.equal(s.modelVersion, 's-1-0002');
    assert.deepEqual(
      s.models.map((m) => [m.modelVersion, m.correct, m.total, m.accuracy, m.predictions]),
      [
        ['s-1-0001', 1, 2, 0.5, 2],
        ['s-1-0002', 3, 3, 1, 4],
      ],
    );
    assert.equal(s.models[0]!.firstSeenAt, 1000);
    assert.equal(s.models[1]!.firstSeenAt, 1500);
    assert.equal(s.correct, 4);
    assert.equal(s.total, 5);
  });

  test('decodes msgpack and JSON payloads from the predictions topic', () => {
    const { board } = setup([2, 3]);
    assert.equal(board.handleMessage(topic, encode(pred(0, 2))).kind, 'correct');
    assert.equal(board.handleMessage(topic, Buffer.from(JSON.stringify(pred(128, 2)))).kind, 'wrong');
    assert.equal(board.summary('site-1')!.total, 2);
  });

  test('garbage payloads are counted by code, never thrown', () => {
    const { board } = setup([0]);
    const garbage: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.from([0xc1, 0xff, 0x00]),
      Buffer.from('{"site": "site-1", '),
      Buffer.from('{"site":"site-1"}'),
      encode({ ...pred(0, 0), cls: 9 }),
      encode({ ...pred(0, 0), probs: [0.5, 0.6] }),
      encode({ ...pred(0, 0), windowStart: Number.NaN }),
      encode([1, 2, 3]),
      new Uint8Array(200_000),
    ];
    for (const g of garbage) assert.equal(board.handleMessage(topic, g).kind, 'dropped');
    // Payload names another site than its topic.
    assert.deepEqual(board.handleMessage(topic, encode({ ...pred(0, 0), site: 'site-2' })), { kind: 'dropped', site: 'site-1', code: 'topic-mismatch' });
    const s = board.summary('site-1')!;
    assert.equal(s.predictions, 0);
    assert.deepEqual(s.dropped, {
      SITEKD_ERR_MSG_DECODE: 3,
      SITEKD_ERR_MSG_SCHEMA: 5,
      SITEKD_ERR_PAYLOAD_TOO_LARGE: 1,
      'topic-mismatch': 1,
    });
    // Unknown sites and foreign topics are counted apart.
    assert.equal(board.handleMessage(predictionsTopic('site-9', 'gw-1'), encode(pred(0, 0))).kind, 'unknownSite');
    assert.equal(board.handleMessage('sitekd/v1/site-1/gw-1/telemetry', encode(pred(0, 0))).kind, 'dropped');
    assert.equal(board.handleMessage('elsewhere', new Uint8Array(1)).kind, 'dropped');
    assert.deepEqual(board.elsewhere, { unknownSite: 1, dropped: { 'topic-unexpected': 2 } });
    assert.equal(board.summary('nope'), undefined);
  });

  test('windowsPerSec over the last seconds of wall time', () => {
    const { board, advance } = setup([0, 1]);
    assert.equal(board.summary('site-1')!.windowsPerSec, 0);
    for (let i = 0; i < 20; i++) {
      board.score(pred(0, 0));
      advance(250); // 4 predictions per second
    }
    const r = board.summary('site-1')!.windowsPerSec;
    assert.ok(Math.abs(r - 4) < 0.9, `rate ${r}`);
    advance(60_000);
    assert.equal(board.summary('site-1')!.windowsPerSec, 0);
  });

  test('the summary is plain JSON with the fields the orchestrator shows', () => {
    const { board } = setup([0]);
    board.score(pred(0, 0));
    const s = JSON.parse(JSON.stringify(board.summary('site-1'))) as Record<string, unknown>;
    for (const k of ['site', 'source', 'subject', 'description', 'ts', 'readingsSent', 'predictions', 'windowsPerSec', 'modelVersion', 'accuracy', 'models', 'skipped', 'dropped']) {
      assert.ok(k in s, k);
    }
    assert.equal(s.readingsSent, 128);
    assert.equal(s.source, 'synthetic');
  });
});
