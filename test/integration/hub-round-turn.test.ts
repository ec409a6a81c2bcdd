/**
 * With `adaptTurnDegrees` set (40 by default), the hub's round searches a turn of the site's sensors when the data set
 * names x/y/z channels (the fixture's synthetic data does: s0_x … s2_z; shared/ml/sensor-frame.ts): the round
 * function itself, in the real worker, on a real sample store. The turn it reports is about the site's own vertical,
 * one of the angles tried, recorded in the round's history and folded into the first convolution only; with 0 the
 * input stays as it is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { axisGroups, searchAngles, verticalAxis } from '../../shared/ml/sensor-frame';
import { referenceAdaptSettings, siteAdaptSettings, TURN_STEP_DEGREES, type RoundSettings } from '../../hub/jobs/round';
import { decidedRoundOn, fedAdaptSiteHooks } from './adapt-site-fixture';

const logs: string[] = [];
const fed = fedAdaptSiteHooks('turn', logs);

const round = async (jobId: string, settings: Partial<RoundSettings> = {}) => await decidedRoundOn(fed.site, { jobId, settings });

test('a round on named x/y/z channels with turns on (the default) searches a turn about the site\'s vertical and folds it into the first convolution only; 0 turns none', async () => {
  const { hub, fx } = fed.site;
  assert.deepEqual(axisGroups(hub.input.channelNames ?? []), [[0, 1, 2], [3, 4, 5], [6, 7, 8]], 'the fixture names its channels');
  assert.equal(hub.settings.adaptTurnDegrees, 40, 'on by default');
  const out = await round('r-turn', { adaptTurnDegrees: 40 });
  const turn = out.output.turn;
  assert.ok(turn !== undefined, 'a site-adapt round reports its turn');
  const windows = fx.domains[1]!.train;
  assert.equal(turn.axis, verticalAxis(windows, axisGroups(hub.input.channelNames!)), 'about the site\'s vertical');
  assert.ok(searchAngles({ maxDegrees: 40, stepDegrees: TURN_STEP_DEGREES }).includes(turn.degrees), `${turn.degrees}° is one of the angles tried`);
  const artifact = decodeCnnArtifact(out.output.artifact);
  assert.equal(out.output.history[0]?.['turnDegrees'], turn.degrees, 'the round\'s history records it');
  const generic = decodeCnnArtifact(hub.bundle.generic.bytes).weights;
  assert.deepEqual(Array.from(artifact.weights['fe.conv2.w']!.data), Array.from(generic['fe.conv2.w']!.data), 'later convolutions are the generic student\'s');
  const off = await round('r-off', { adaptTurnDegrees: 0 });
  assert.equal(off.output.turn, undefined, 'no turn searched');
  assert.equal(off.output.history[0]?.['turnDegrees'], undefined);
  assert.deepEqual(Array.from(decodeCnnArtifact(off.output.artifact).weights['fe.conv1.w']!.data), Array.from(generic['fe.conv1.w']!.data), 'the first convolution as it was');
});

test('with turns on the gate also judges against the reference adapted unturned; voters that are copies of the generic student vote as it does', async () => {
  const { hub } = fed.site;
  assert.equal(hub.bundle.voters?.length, 3, 'three voters by default');
  const alone = await decidedRoundOn(fed.site, { jobId: 'r-alone', settings: { adaptTurnDegrees: 40 }, voters: [] });
  const u = alone.output.evaluation.unturned;
  assert.ok(u !== undefined, 'the unturned agreement travels with the evaluation');
  assert.equal(u.candidate.length, alone.output.evaluation.agrees.candidate.length, 'on the same judged windows');
  assert.match(alone.gate.reasons.join('\n'), /adapted-teacher \(unturned\) agreement on \d+ held-out windows/);
  const voted = await decidedRoundOn(fed.site, { jobId: 'r-voted', settings: { adaptTurnDegrees: 40 }, voters: [hub.bundle.generic, hub.bundle.generic] });
  assert.deepEqual(voted.output.turn, alone.output.turn, 'the same losses, three times over: the same angle');
  assert.equal((await round('r-plain', { adaptTurnDegrees: 0 })).output.evaluation.unturned, undefined, 'no turn, no second judge');
});

test('the settings carry the channel triples only when the data set names some and turns are on; the gate\'s reference never turns', () => {
  const s = { adaptIterations: 1, adaptSourcePrior: 0.25, adaptTurnDegrees: 40 };
  assert.deepEqual(siteAdaptSettings(s, { channelNames: ['a_x', 'a_y', 'a_z', 'temp'] }).frame, { groups: [[0, 1, 2]], maxDegrees: 40, stepDegrees: TURN_STEP_DEGREES });
  assert.equal(siteAdaptSettings(s, { channelNames: ['ch0', 'ch1', 'ch2'] }).frame, undefined);
  assert.equal(siteAdaptSettings(s, {}).frame, undefined);
  assert.equal(siteAdaptSettings({ ...s, adaptTurnDegrees: 0 }, { channelNames: ['a_x', 'a_y', 'a_z'] }).frame, undefined);
  assert.deepEqual(referenceAdaptSettings(s), { iterations: 1, sourcePrior: 0.25 });
});
