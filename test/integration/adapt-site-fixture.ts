/**
 * A round's test bench: the hub's round machinery (lab/adapt-hub.ts, as `sitekd adapt-eval` runs it) with a fixture
 * teacher, and site-1's train windows delivered as 6-window batches of agent gw-1 into a real sample store; and the
 * hub's round function run on it with the small minimums these few windows need.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before } from 'node:test';
import type { WindowSet } from '../../shared/ml/types';
import { encode } from '../../shared/protocol/codec';
import { runRound, type RoundOutcome, type RoundSettings } from '../../hub/jobs/round';
import { runMlTask } from '../../hub/worker/ml-runner';
import type { ModelBytes } from '../../hub/models/teacher';
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

/**
 * A fed site for a test file: set up before its tests (`fedAdaptSite`), closed and removed after them. Read `site`
 * inside tests, once `before` has run.
 */
export function fedAdaptSiteHooks(name: string, logs: string[], selectedBy?: (b: number) => 0 | 1): { readonly site: FedSite } {
  let site: FedSite | undefined;
  before(async () => {
    site = await fedAdaptSite(name, logs, selectedBy);
  });
  after(async () => {
    await site?.intake.close();
    site?.fx.cleanup();
  });
  return {
    get site(): FedSite {
      assert.ok(site !== undefined, 'the fed site is set up in before()');
      return site;
    },
  };
}

export interface RoundOn {
  readonly jobId?: string;
  /** The serving student (default: the generic one as version 1-00000000). */
  readonly current?: { readonly version: string; readonly bytes: Uint8Array };
  readonly labelled?: WindowSet;
  /** On top of the hub's settings and the small minimums (16 train, 4 held-out windows). */
  readonly settings?: Partial<RoundSettings>;
  /** Turn voters of the round instead of the hub's (TeacherBundle.voters; [] for none). */
  readonly voters?: readonly ModelBytes[];
}

/** The hub's round function on site-1's stored windows. */
export async function roundOn(s: FedSite, o: RoundOn = {}): Promise<RoundOutcome> {
  const { hub, intake } = s;
  const settings = { ...hub.settings, minTrainWindows: 16, minHeldOutWindows: 4, ...o.settings };
  const current = o.current ?? { version: '1-00000000', bytes: hub.bundle.generic.bytes };
  return await runRound(
    { store: intake.store, source: hub.source.train, input: hub.input, run: hub.run, settings, now: () => Date.now() },
    {
      site: 'site-1', jobId: o.jobId ?? 'j', teacher: o.voters !== undefined ? { ...hub.bundle, voters: o.voters } : hub.bundle, current: async () => current, ...(o.labelled !== undefined && { labelled: o.labelled }),
      report: () => undefined, signal: new AbortController().signal,
    },
  );
}

/** roundOn, asserting that the round adapted a candidate and decided on it. */
export async function decidedRoundOn(s: FedSite, o: RoundOn = {}): Promise<Extract<RoundOutcome, { kind: 'decided' }>> {
  const out = await roundOn(s, o);
  assert.equal(out.kind, 'decided', `the round adapts (${out.kind === 'skipped' ? out.reason : ''})`);
  return out as Extract<RoundOutcome, { kind: 'decided' }>;
}
