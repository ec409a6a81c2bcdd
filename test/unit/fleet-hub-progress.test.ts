/** fleet/hub-progress.ts: the line `npm start` shows while the hub trains, read from the hub's JSON log. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { hubProgress } from '../../fleet/hub-progress';

test('the latest training step of the hub log, nothing once the hub runs or without a log', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-progress-'));
  const file = path.join(dir, 'hub.log');
  try {
    assert.equal(hubProgress(file), undefined, 'no log yet');
    const line = (o: object): string => `${JSON.stringify({ level: 'info', time: 't', ...o })}\n`;
    fs.writeFileSync(file, line({ msg: 'source data' }) + line({ msg: 'training the teacher from the source domain' }));
    assert.equal(hubProgress(file), 'hub: training the teacher');
    fs.appendFileSync(file, line({ msg: 'teacher epoch', epoch: 3, epochs: 10 }) + 'not json\n');
    assert.equal(hubProgress(file), 'hub: training the teacher: epoch 3/10');
    fs.appendFileSync(file, line({ msg: 'generic student epoch', epoch: 1, epochs: 10 }));
    assert.equal(hubProgress(file), 'hub: distilling the generic student: epoch 1/10');
    fs.appendFileSync(file, line({ msg: 'hub running' }) + line({ msg: 'model published' }));
    assert.equal(hubProgress(file), undefined);
    // Turn voters are made after the hub runs: their steps show, and nothing once the last is made.
    fs.appendFileSync(file, line({ msg: 'teacher epoch', voter: 2, epoch: 4, epochs: 10 }));
    assert.equal(hubProgress(file), "hub: training turn voter 2's teacher: epoch 4/10 (rounds wait for the voters)");
    fs.appendFileSync(file, line({ msg: 'distilling the generic student', voter: 2 }));
    assert.equal(hubProgress(file), "hub: distilling turn voter 2's student (rounds wait for the voters)");
    fs.appendFileSync(file, line({ msg: 'generic student distilled', voter: 2 }) + line({ msg: 'round done' }));
    assert.equal(hubProgress(file), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
