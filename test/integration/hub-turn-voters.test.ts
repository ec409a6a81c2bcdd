/**
 * Turn voters (hub config `turnVoters`, read only with `adaptTurnDegrees`; hub/models/teacher.ts `prepareVoters`): each
 * is a teacher and a generic student trained as the hub's own with another seed, kept in the state directory and
 * loaded from there at the next start; without turns none is made.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { decodeArtifact } from '../../shared/artifact/model-artifact';
import { modelsDir } from '../../hub/models/teacher';
import { runMlTask } from '../../hub/worker/ml-runner';
import { startAdaptHub } from '../../lab/adapt-hub';
import { makeFixture, testLogger } from './hub-fixture';

const fx = makeFixture('turn-voters');
after(() => fx.cleanup());

test('voters are made with the seeds after the hub\'s, kept, and loaded at the next start; none without turns', async () => {
  const logs: string[] = [];
  const start = async (over: { adaptTurnDegrees?: number; turnVoters?: number }) =>
    await startAdaptHub({ data: fx.dataDir, source: 'site-0', seed: 5, stateDir: fx.stateDir, run: runMlTask, log: testLogger(logs), backend: 'wasm', epochs: 1, teacherEpochs: 1, ...over });
  const off = await start({ adaptTurnDegrees: 0, turnVoters: 2 });
  assert.equal(off.bundle.voters, undefined, 'turnVoters alone makes nothing: no turn is searched');
  const on = await start({ adaptTurnDegrees: 40, turnVoters: 2 });
  const voters = on.bundle.voters ?? [];
  assert.equal(voters.length, 2);
  assert.deepEqual(voters.map((v) => decodeArtifact(v.bytes).seed), [6, 7], 'seeds after the hub\'s');
  assert.equal(on.bundle.generic.sha256, off.bundle.generic.sha256, 'the hub\'s own generic student is untouched');
  assert.equal(new Set([on.bundle.generic.sha256, ...voters.map((v) => v.sha256)]).size, 3, 'three different students');
  const files = fs.readdirSync(modelsDir(fx.stateDir)).filter((f) => f.startsWith('voter-')).sort();
  assert.deepEqual(files, ['voter-1-student.skdm', 'voter-1-teacher.skdm', 'voter-2-student.skdm', 'voter-2-teacher.skdm']);
  for (const v of voters) assert.notEqual(decodeArtifact(v.bytes).teacherVersion, on.bundle.teacher.version, 'each from its own teacher');
  logs.length = 0;
  const again = await start({ adaptTurnDegrees: 40, turnVoters: 2 });
  assert.deepEqual(again.bundle.voters?.map((v) => v.sha256), voters.map((v) => v.sha256), 'loaded, not retrained');
  assert.ok(!logs.some((l) => l.includes('training the teacher')), logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('generic student loaded') && l.includes('"voter":2')));
  // A corrupt voter file is set aside and remade, as the hub's own models are.
  fs.writeFileSync(path.join(modelsDir(fx.stateDir), 'voter-2-student.skdm'), 'not a model');
  const mended = await start({ adaptTurnDegrees: 40, turnVoters: 2 });
  assert.equal(mended.bundle.voters?.length, 2);
  assert.ok(logs.some((l) => l.startsWith('warn stored model unusable')), 'the bad file is reported');
});
