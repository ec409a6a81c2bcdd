import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { writeDataset } from '../../shared/data/har';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { Domain, WindowSet } from '../../shared/ml/types';
import { parseHubConfig } from '../../hub/config';
import { silentLogger } from '../../shared/log';
import { concatWindowSets, loadSourceData } from '../../hub/models/source-data';

const C = 2;
const L = 4;

/** n windows whose every value is `base + i` (window i), labels `label`. */
function windows(n: number, base: number, label: number, channels = C, length = L): WindowSet {
  const x = new Float32Array(n * channels * length);
  for (let i = 0; i < n; i++) x.fill(base + i, i * channels * length, (i + 1) * channels * length);
  return { n, channels, length, x, y: new Uint8Array(n).fill(label) };
}

const dom = (id: string, nTrain: number, nTest: number, base: number, label: number): Domain => ({
  id,
  train: windows(nTrain, base, label),
  test: windows(nTest, base + 50, label),
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-source-data-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const dataDir = path.join(tmp, 'HAR');
writeDataset(dataDir, { name: 'HAR', classNames: ['a', 'b', 'c'], domains: [dom('2', 3, 1, 100, 0), dom('7', 2, 2, 200, 1), dom('12', 4, 1, 300, 2)] });

const cfg = (source: string) => parseHubConfig({ data: dataDir, source });
const firstValues = (ws: WindowSet): number[] => Array.from({ length: ws.n }, (_, i) => ws.x[i * ws.channels * ws.length]!);

describe('loadSourceData', () => {
  test('one source id: that domain as it is', () => {
    const d = loadSourceData(cfg('7'), silentLogger);
    assert.equal(d.source.id, '7');
    assert.equal(d.source.train.n, 2);
    assert.deepEqual(firstValues(d.source.train), [200, 201]);
    assert.deepEqual(d.input, { ...d.input, inChannels: C, numClasses: 3 });
  });

  test('several source ids: their train (and test) splits concatenated in the order given into one labelled set', () => {
    const d = loadSourceData(cfg('12, 2,7'), silentLogger);
    assert.equal(d.source.id, '12,2,7');
    assert.equal(d.source.train.n, 4 + 3 + 2);
    assert.equal(d.source.train.x.length, 9 * C * L);
    assert.deepEqual(firstValues(d.source.train), [300, 301, 302, 303, 100, 101, 102, 200, 201]);
    assert.deepEqual([...d.source.train.y!], [2, 2, 2, 2, 0, 0, 0, 1, 1]);
    // Every value of a window is in place, not just the first.
    assert.ok(d.source.train.x.subarray(4 * C * L, 5 * C * L).every((v) => v === 100));
    assert.equal(d.source.test.n, 1 + 1 + 2);
    assert.deepEqual(firstValues(d.source.test), [350, 150, 250, 251]);
  });

  test('an unknown id in the list is DATA_UNKNOWN_DOMAIN', () => {
    assert.throws(() => loadSourceData(cfg('2,99'), silentLogger), (e: unknown) => isSitekdError(e, ErrorCode.DATA_UNKNOWN_DOMAIN));
  });
});

describe('concatWindowSets', () => {
  test('concatenates labelled sets of one shape; one set is returned as it is', () => {
    const a = windows(2, 10, 1);
    const b = windows(1, 20, 2);
    const ab = concatWindowSets([a, b]);
    assert.deepEqual([ab.n, ab.channels, ab.length], [3, C, L]);
    assert.deepEqual(firstValues(ab), [10, 11, 20]);
    assert.deepEqual([...ab.y!], [1, 1, 2]);
    assert.equal(concatWindowSets([a]), a);
  });

  test('another shape, missing labels or no sets at all are coded errors', () => {
    const a = windows(2, 10, 1);
    const isConfig = (e: unknown): boolean => isSitekdError(e, ErrorCode.CONFIG_INVALID);
    assert.throws(() => concatWindowSets([a, windows(1, 0, 0, C + 1, L)], ['2', '7']), (e: unknown) => isConfig(e) && /source 7 has 3×4 windows, 2 2×4/.test((e as Error).message));
    assert.throws(() => concatWindowSets([a, windows(1, 0, 0, C, L * 2)]), isConfig);
    const { y: _y, ...unlabelled } = windows(1, 0, 0);
    assert.throws(() => concatWindowSets([a, unlabelled]), isConfig);
    assert.throws(() => concatWindowSets([]), isConfig);
    assert.throws(() => concatWindowSets([a, { ...windows(2, 0, 0), n: 3 }]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  });
});
