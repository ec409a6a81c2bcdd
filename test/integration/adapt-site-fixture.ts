/**
 * A round's test bench: the hub's round machinery (lab/adapt-hub.ts, as `sitekd adapt-eval` runs it) with a fixture
 * teacher, and site-1's train windows delivered as 6-window batches of agent gw-1 into a real sample store.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { encode } from '../../shared/protocol/codec';
import { runMlTask } from '../../hub/worker/ml-runner';
import { SiteIntake, startAdaptHub, type AdaptHub } from '../../lab/adapt-hub';
import { makeBatch, makeFixture, testLogger, type Fixture } from './hub-fixture';

export interface FedSite {
  readonly fx: Fixture;
  readonly hub: AdaptHub;
  readonly intake: SiteIntake;
  /** Windows stored, and of those the ones the agent sampled uniformly (selectedBy 0). */
  readonly stored: number;
  readonly uniform: number;
}

/** `selectedBy(b)`: how batch b's windows were chosen (default: all uniformly). */
export async function fedAdaptSite(name: string, logs: string[], selectedBy: (b: number) => 0 | 1 = () => 0): Promise<FedSite> {
  const fx = makeFixture(name);
  const log = testLogger(logs);
  const hub = await startAdaptHub({ data: fx.dataDir, source: 'site-0', seed: 0, stateDir: fx.stateDir, run: runMlTask, log, backend: 'wasm', epochs: 1, teacherEpochs: 1 });
  const intake = await SiteIntake.open(path.join(fx.dir, 'site'), 'site-1', hub.input, log);
  const d = fx.domains[1]!;
  let stored = 0;
  let uniform = 0;
  for (let b = 0; b * 6 + 6 <= d.train.n; b++) {
    const by = selectedBy(b);
    const batch = makeBatch(d, { site: 'site-1', agent: 'gw-1', batchId: `gw-1-${String(b).padStart(9, '0')}`, from: b * 6, n: 6, selectedBy: new Array<0 | 1>(6).fill(by) });
    assert.equal(await intake.deliver('gw-1', encode(batch), batch.batchId), 6);
    stored += 6;
    uniform += by === 0 ? 6 : 0;
  }
  return { fx, hub, intake, stored, uniform };
}
