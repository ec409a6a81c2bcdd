/**
 * Turning a site's 3-axis sensors (shared/ml/sensor-frame.ts) and the search for the turn in site adaptation
 * (shared/ml/site-adapt.ts): channel triples from names; a turn folded into the first convolution equals the same
 * turn applied to the windows; the site's vertical; the angles tried; and on a synthetic site whose sensors are
 * mounted turned, the search turns them back without labels and wins back what the turn cost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCnn } from '../../shared/ml/cnn';
import { generateSites } from '../../shared/data/synthetic';
import { evaluate } from '../../shared/ml/evaluate';
import { parseCnnSpec } from '../../shared/ml/model-spec';
import { disposeVars, exportVars } from '../../shared/ml/params';
import { axisGroups, describeTurn, searchAngles, turnedInput, turnWindows, verticalAxis, type AxisGroup } from '../../shared/ml/sensor-frame';
import { adaptToSite } from '../../shared/ml/site-adapt';
import { predictLogits, train } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { liveTensors, randn, useBackend } from '../helpers/tensors';

const HAR_NAMES = ['body_acc_x', 'body_acc_y', 'body_acc_z', 'body_gyro_x', 'body_gyro_y', 'body_gyro_z', 'total_acc_x', 'total_acc_y', 'total_acc_z'];
const SPEC9 = parseCnnSpec({ inChannels: 9, windowLength: 32, numClasses: 3, kernelSize: 5, stride: 1, padding: 2, dropout: 0, midChannels: 4, finalChannels: 6 });

test('axis groups: every complete x/y/z triple of channel names, in x, y, z order; incomplete or unnamed channels are left out', () => {
  assert.deepEqual(axisGroups(HAR_NAMES), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  assert.deepEqual(axisGroups(['Acc.Z', 'temp', 'Acc.X', 'Acc.Y', 'mag_x', 'mag_y']), [[2, 3, 0]]);
  assert.deepEqual(axisGroups(['ch0', 'ch1', 'ch2']), []);
  assert.deepEqual(axisGroups([]), []);
});

test('a turn folded into the first convolution equals the same turn of the windows, about each axis; the model is left as it is', async () => {
  await useBackend('cpu');
  const net = createCnn(SPEC9, createRng(4));
  const before = JSON.stringify(Object.values(exportVars(net.vars)).map((v) => Array.from(v.data)));
  const ws: WindowSet = { n: 7, channels: 9, length: 32, x: randn(5, 7 * 9 * 32, 1) };
  const groups = axisGroups(HAR_NAMES);
  const live = liveTensors();
  for (const axis of [0, 1, 2] as const) {
    for (const degrees of [-40, 0, 25, 90]) {
      const turned = turnedInput(net, groups, { axis, degrees });
      const folded = predictLogits(turned, ws).data;
      const direct = predictLogits(net, turnWindows(ws, groups, { axis, degrees })).data;
      folded.forEach((v, i) => assert.ok(Math.abs(v - direct[i]!) < 1e-4, `axis ${axis}, ${degrees}°: logit ${i} ${v} vs ${direct[i]}`));
      turned.vars['fe.conv1.w']!.dispose();
    }
  }
  assert.equal(liveTensors(), live, 'only the turned weight is new, and it is disposed');
  assert.equal(JSON.stringify(Object.values(exportVars(net.vars)).map((v) => Array.from(v.data))), before);
  // A turn of a whole circle is none; a turn back undoes a turn.
  const g: AxisGroup[] = [[0, 1, 2]];
  const small: WindowSet = { n: 2, channels: 3, length: 4, x: randn(6, 24, 1) };
  const round = turnWindows(turnWindows(small, g, { axis: 2, degrees: 30 }), g, { axis: 2, degrees: -30 });
  round.x.forEach((v, i) => assert.ok(Math.abs(v - small.x[i]!) < 1e-5));
  assert.throws(() => turnedInput(net, [[7, 8, 9]], { axis: 0, degrees: 10 }), (e: unknown) => isSitekdError(e, ErrorCode.MODEL_SPEC_MISMATCH));
  disposeVars(net.vars);
});

test('vertical axis: the axis of the longest static vector; none when no group holds one', () => {
  const n = 20;
  const length = 16;
  const noise = randn(7, n * 6 * length, 0.3);
  const x = Float32Array.from(noise);
  // Group 1 (channels 3..5) carries a static 1 g on y; group 0 only noise.
  for (let i = 0; i < n; i++) for (let t = 0; t < length; t++) x[(i * 6 + 4) * length + t]! += -1;
  const groups: AxisGroup[] = [[0, 1, 2], [3, 4, 5]];
  assert.equal(verticalAxis({ n, channels: 6, length, x }, groups), 1);
  assert.equal(verticalAxis({ n, channels: 6, length, x: noise }, groups), undefined);
});

test('angles tried: 0 first, then outward both ways in steps; a step that is not positive is a coded error; how a turn reads', () => {
  assert.deepEqual(searchAngles({ maxDegrees: 40, stepDegrees: 10 }), [0, 10, -10, 20, -20, 30, -30, 40, -40]);
  assert.deepEqual(searchAngles({ maxDegrees: 0, stepDegrees: 10 }), [0]);
  assert.deepEqual(searchAngles({ maxDegrees: 25, stepDegrees: 10 }), [0, 10, -10, 20, -20]);
  for (const bad of [0, -5, Number.NaN]) assert.throws(() => searchAngles({ maxDegrees: 40, stepDegrees: bad }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  assert.equal(describeTurn({ axis: 0, degrees: 20 }), '+20° about x');
  assert.equal(describeTurn({ axis: 2, degrees: -30 }), '-30° about z');
  assert.equal(describeTurn({ axis: 1, degrees: 0 }), '0° about y');
});

/** A synthetic 6-channel source site (two x/y/z triples, one with gravity) and a CNN trained on it. */
function sourceModel(): { source: { train: WindowSet; test: WindowSet }; net: ReturnType<typeof createCnn>; groups: AxisGroup[]; axis: 0 | 1 | 2 } {
  const knobs = { rotationDeg: 0, gain: 0, offset: 0, noise: 0, timeScale: 0, intensity: 0, labelSkew: 0 };
  const [source] = generateSites({ seed: 3, sites: 1, channels: 6, length: 32, numClasses: 6, trainPerClass: 50, testPerClass: 40, shift: 0, knobs });
  const spec = parseCnnSpec({ ...SPEC9, inChannels: 6, numClasses: 6, dropout: 0.2 });
  const net = train({ algorithm: 'source-only', spec, source: source!.train, target: source!.train, seed: 1, hparams: { epochs: 15 } }).net;
  const groups = axisGroups(['acc_x', 'acc_y', 'acc_z', 'total_x', 'total_y', 'total_z']);
  const axis = verticalAxis(source!.train, groups);
  assert.notEqual(axis, undefined, 'the synthetic total acceleration carries gravity');
  return { source: source!, net, groups, axis: axis! };
}

test('site adaptation turns a site whose sensors are mounted turned back, without labels, and wins back the accuracy the turn cost', async () => {
  await useBackend('cpu');
  const { source, net, groups, axis } = sourceModel();
  const mount = { axis, degrees: 30 };
  const site = { train: turnWindows(source!.train, groups, mount), test: turnWindows(source!.test, groups, mount) };
  const frame = { groups, maxDegrees: 40, stepDegrees: 10 };
  const plain = adaptToSite(net, site.train, { iterations: 1 });
  const searched = adaptToSite(net, site.train, { iterations: 1, frame });
  assert.equal(plain.turn, undefined, 'no search, no turn');
  assert.deepEqual(searched.turn, { axis, degrees: -30 }, 'the turn found undoes the mounting');
  const [onSource, before, plainAfter, after] = [net, net, plain.net, searched.net].map((m, i) => evaluate(m, i === 0 ? source!.test : site.test).accuracy) as [number, number, number, number];
  assert.ok(before < onSource - 10, `the turn costs accuracy (source ${onSource.toFixed(1)}, turned site ${before.toFixed(1)})`);
  assert.ok(after > plainAfter && after >= onSource - 2, `turned back: ${after.toFixed(1)} (batch-norm and centroids alone ${plainAfter.toFixed(1)}, source ${onSource.toFixed(1)})`);
  // Nine adaptations, one kept: the other eight and every turned weight are disposed.
  const live = liveTensors();
  disposeVars(adaptToSite(net, site.train, { iterations: 1, frame }).net.vars);
  assert.equal(liveTensors(), live, 'no tensor left behind by the search');
  // On the source's own windows the search keeps them as they are.
  const home = adaptToSite(net, source!.train, { iterations: 1, frame });
  assert.equal(home.turn?.degrees, 0);
  for (const m of [net, plain.net, searched.net, home.net]) disposeVars(m.vars);
});

test('voters: the angle kept minimises the sum of every model\'s loss; a fixed turn adapts under that turn alone', async () => {
  await useBackend('cpu');
  const { source, net, groups, axis } = sourceModel();
  const site = turnWindows(source.train, groups, { axis, degrees: 30 });
  const frame = { groups, maxDegrees: 40, stepDegrees: 10 };
  // Voters that see the site's windows already turned back: for them the site needs no turn.
  const undone = [turnedInput(net, groups, { axis, degrees: -30 }), turnedInput(net, groups, { axis, degrees: -30 })];
  const live = liveTensors();
  const alone = adaptToSite(net, site, { iterations: 1, frame });
  const same = adaptToSite(net, site, { iterations: 1, frame, voters: [net, net] });
  const outvoted = adaptToSite(net, site, { iterations: 1, frame, voters: undone });
  assert.equal(alone.turn?.degrees, -30);
  assert.equal(same.turn?.degrees, -30, 'copies of the model vote as it does');
  assert.ok(outvoted.turn!.degrees > -30, `two voters for 0° against one for −30°: ${outvoted.turn!.degrees}°`);
  const fixed = adaptToSite(net, site, { iterations: 1, frame, fixedTurn: { groups, turn: { axis, degrees: -30 } } });
  assert.deepEqual(fixed.turn, { axis, degrees: -30 });
  const [a, b] = [alone, fixed].map((r) => predictLogits(r.net, site).data);
  a!.forEach((v, i) => assert.ok(Math.abs(v - b![i]!) < 1e-4, 'the same adapted model as the search\'s pick'));
  for (const r of [alone, same, outvoted, fixed]) disposeVars(r.net.vars);
  assert.equal(liveTensors(), live, 'voters\' adapted copies are disposed');
  for (const u of undone) u.vars['fe.conv1.w']!.dispose();
  disposeVars(net.vars);
});
