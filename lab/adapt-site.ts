/**
 * One site of `sitekd adapt-eval`: the site's train recording streams through the agent's parts (lab/adapt-agent.ts)
 * into the hub's store (lab/adapt-hub.ts); after every N/R returned windows the hub's round runs (hub/jobs/round.ts
 * `runRound`, the function the hub's redistill job calls), and its decision is applied as the hub and the agent would:
 * a passed candidate becomes the site's next version, serves the agent's next windows and is the current model of
 * the next round; a rejected one changes nothing. Every model is scored on the site's labelled test split, which
 * neither the hub nor the agent sees; so is an oracle student trained with the site's train labels (`oracle`), to show how much
 * of the possible gain the label-free loop gets.
 */
import { createHash } from 'node:crypto';
import { cnnFromArtifact, decodeCnnArtifact } from '../shared/artifact/cnn-artifact';
import { ErrorCode, SitekdError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { evaluate } from '../shared/ml/evaluate';
import { specFor } from '../shared/ml/model-spec';
import { disposeVars } from '../shared/ml/params';
import { labelledCentroidHead } from '../shared/ml/site-adapt';
import type { Domain, WindowSet } from '../shared/ml/types';
import { createRng, deriveSeed } from '../shared/random';
import { sha256Hex } from '../shared/protocol/chunks';
import { isValidSiteId } from '../shared/protocol/topics';
import { parseAgentConfig } from '../agent/config';
import { loadModel, type LoadedModel } from '../agent/model-probe';
import { runRound, type CurrentModel } from '../hub/jobs/round';
import { nextVersion } from '../hub/models/versioning';
import { SiteStream } from '../sim/site-stream';
import { SiteAgent } from './adapt-agent';
import { SiteIntake, type AdaptHub } from './adapt-hub';
import type { Figures, RoundRow, SiteResult } from './adapt-report';

export interface SiteRunOptions {
  readonly hub: AdaptHub;
  readonly domain: Domain;
  /** Position of the site in the run (names the oracle; the agent's seed comes from the domain id). */
  readonly index: number;
  readonly samplingRateHz: number;
  readonly windows: number;
  readonly rounds: number;
  readonly seed: number;
  /** The agent's `upload.randomShare`; undefined keeps its default. */
  readonly randomShare?: number | undefined;
  /** The site's labelled set for the hub (RoundRequest.labelled): this many windows per class of its train split. */
  readonly labelledPerClass?: number | undefined;
  /** An empty directory for the site's store and registry. */
  readonly dir: string;
  readonly log: Logger;
}

const AGENT_ID = 'gw-1';

/**
 * Macro-F1 and accuracy of a model artifact on labelled windows; with `labelledHead`, of its features under a centroid
 * head from those windows' labels instead of its own head (benchmark only: RoundRow.candidateLabelledHead).
 */
export function scoreArtifact(bytes: Uint8Array, ws: WindowSet, labelledHead?: WindowSet): Figures {
  const net = cnnFromArtifact(decodeCnnArtifact(bytes));
  const scored = labelledHead === undefined ? net : labelledCentroidHead(net, labelledHead);
  try {
    const s = evaluate(scored, ws);
    return { macroF1: s.macroF1, accuracy: s.accuracy };
  } finally {
    if (scored !== net) disposeVars(scored.vars);
    disposeVars(net.vars);
  }
}

/** The site's model as the agent holds it, and as the hub's round sees it. */
interface Serving {
  readonly current: CurrentModel & { readonly version: string };
  readonly figures: Figures;
  readonly loaded: LoadedModel;
}

function agentConfig(o: SiteRunOptions, site: string): ReturnType<typeof parseAgentConfig> {
  const ws = o.domain.train;
  return parseAgentConfig({
    site, id: AGENT_ID, broker: { url: 'mqtt://127.0.0.1:1883' }, sensors: [{ topic: `adapt-eval/${site}` }],
    channels: Array.from({ length: ws.channels }, (_, i) => `ch${i}`), sampleRateHz: o.samplingRateHz, windowLength: ws.length,
    ...(o.randomShare !== undefined ? { upload: { randomShare: o.randomShare } } : {}),
  });
}

function serve(bytes: Uint8Array, version: string, figures: Figures, shape: { channels: number; windowLength: number }): Serving {
  const loaded = loadModel(bytes, { version, sha256: sha256Hex(bytes), createdAt: null, source: 'hub' }, shape);
  return { current: { version, bytes }, figures, loaded };
}

/** Runs the site: rounds as windows arrive, then the oracle. */
export async function runSite(o: SiteRunOptions): Promise<SiteResult> {
  const site = isValidSiteId(`site-${o.domain.id}`) ? `site-${o.domain.id}` : `site-${o.index + 1}`;
  const config = agentConfig(o, site);
  const shape = { channels: config.channels.length, windowLength: config.windowLength };
  const stream = new SiteStream(o.domain.train, { order: 'recorded' });
  const intake = await SiteIntake.open(o.dir, site, o.hub.input, o.log);
  const generic = o.hub.bundle.generic.bytes;
  // The hub publishes the generic student as a new site's first version (hub/sites/site-models.ts).
  let serving = serve(generic, nextVersion(undefined, sha256Hex(generic)), scoreArtifact(generic, o.domain.test), shape);
  const genericFigures = serving.figures;
  const agent = new SiteAgent({
    // Seeded by the domain id, not the site's position in --sites: the agent's batch ids decide the cross-fitted folds,
    // so a site's figures must not depend on which other sites are in the run (docs/adaptation.md §4).
    stream, config, model: serving.loaded, seed: deriveSeed(o.seed, domainSeed(o.domain.id)),
    deliver: (payload, batchId) => intake.deliver(AGENT_ID, payload, batchId),
  });
  const labelled = o.labelledPerClass === undefined ? undefined : perClass(o.domain.train, o.labelledPerClass, deriveSeed(o.seed, domainSeed(o.domain.id)));
  const rows: RoundRow[] = [];
  try {
    for (let r = 1; r <= o.rounds; r++) {
      await agent.streamUntil(Math.ceil((o.windows * r) / o.rounds));
      const { row, next } = await oneRound(o, site, r, intake, serving, agent.counters.returned, shape, labelled);
      rows.push(row);
      if (next !== serving) {
        agent.setModel(next.loaded);
        serving.loaded.predictor.dispose();
        serving = next;
      }
      o.log.info('adapt-eval round', { site: o.domain.id, round: r, outcome: row.outcome, before: row.servingBefore.macroF1, candidate: row.candidate?.macroF1, seconds: row.timing?.total });
    }
  } finally {
    serving.loaded.predictor.dispose();
    await intake.close();
  }
  const c = agent.counters;
  return {
    site: o.domain.id, testWindows: o.domain.test.n, generic: genericFigures, final: serving.figures, oracle: await oracle(o), rounds: rows,
    stream: { readings: c.readings, windowsCut: c.windowsCut, batches: c.batches, returned: c.returned, loops: c.readings / stream.samplesPerLoop },
  };
}

async function oneRound(
  o: SiteRunOptions, site: string, r: number, intake: SiteIntake, serving: Serving, returned: number, shape: { channels: number; windowLength: number }, labelled: WindowSet | undefined,
): Promise<{ row: RoundRow; next: Serving }> {
  const out = await runRound(
    { store: intake.store, source: o.hub.source.train, input: o.hub.input, run: o.hub.run, settings: o.hub.settings, now: () => performance.now() },
    { site, jobId: `r${r}`, teacher: o.hub.bundle, current: async () => serving.current, labelled, report: () => undefined, signal: new AbortController().signal },
  );
  const before = { round: r, returned, versionBefore: serving.current.version, servingBefore: serving.figures };
  if (out.kind === 'skipped') {
    const row: RoundRow = { ...before, outcome: 'skipped', trainWindows: out.trainWindows, heldOut: out.heldOut, setAside: out.setAside, reason: out.reason, versionAfter: serving.current.version, servingAfter: serving.figures };
    return { row, next: serving };
  }
  const artifact = out.output.artifact;
  const candidate = scoreArtifact(artifact, o.domain.test);
  const candidateLabelledHead = scoreArtifact(artifact, o.domain.test, o.domain.train);
  const next = out.gate.pass ? serve(artifact, nextVersion(serving.current.version, sha256Hex(artifact)), candidate, shape) : serving;
  const ev = out.output.evaluation;
  const row: RoundRow = {
    ...before, outcome: out.gate.pass ? 'published' : 'rejected', trainWindows: out.trainWindows, heldOut: out.heldOut, setAside: out.setAside, candidate, candidateLabelledHead, ...(out.output.turn !== undefined && { turn: out.output.turn }),
    versionAfter: next.current.version, servingAfter: next.figures, timing: out.timing, trainSeconds: out.output.trainSeconds,
    gate: { candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, reasons: out.gate.reasons },
  };
  return { row, next };
}

/**
 * What a student of the hub's student spec reaches when trained with the site's train labels, in the hub's worker;
 * benchmark only. Each training takes as many gradient steps as the generic student did on the source (its epochs
 * scaled by source windows / site windows), and the figures are the median of three seeds: with the hub's 10 epochs
 * on a site's ~250 windows (80 steps) one training ranged from 52 to 100 % on one site across seeds (HAR site 11,
 * seeds 0, 1, 4–7), and at equal steps a single training still fell to 86.8 once (site 23, seed 0) where the others
 * reached 100. Either understated the possible gain.
 */
async function oracle(o: SiteRunOptions): Promise<Figures> {
  const train = o.domain.train;
  if (train.y === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, `site ${o.domain.id} has no train labels for the oracle`);
  const s = o.hub.settings;
  const epochs = Math.max(s.epochs, Math.ceil((s.epochs * o.hub.source.train.n) / Math.max(1, train.n)));
  const runs: Figures[] = [];
  for (const k of [0, 1, 2]) {
    const seed = k === 0 ? s.seed : deriveSeed(s.seed, 1000 + k);
    const res = await o.hub.run({
      kind: 'train', backend: s.backend, algorithm: 'source-only', spec: specFor(o.hub.input, 'student'), source: train, target: train,
      seed, hparams: { ...s.hparams, epochs },
      meta: { kind: 'student', version: `oracle-${o.index + 1}-${k}`, algorithm: 'source-only', source: o.domain.id, seed, metrics: {} },
    });
    runs.push(scoreArtifact(res.artifact, o.domain.test));
  }
  return runs.sort((a, b) => a.macroF1 - b.macroF1)[1] as Figures;
}

/**
 * An operator's labelled set drawn from `ws`: `k` windows of each class (all of a class with fewer), at random by
 * `seed`, in their order in `ws`. The site's train split is the recording its agent streams, so these are windows
 * the site saw; HAR's train and test windows of a subject overlap in time, which flatters a head fitted to them.
 */
function perClass(ws: WindowSet, k: number, seed: number): WindowSet {
  const y = ws.y;
  if (y === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'a labelled set needs the labels of the train split');
  const rng = createRng(seed);
  const byClass = new Map<number, number[]>();
  y.forEach((l, i) => byClass.set(l, [...(byClass.get(l) ?? []), i]));
  const keep: number[] = [];
  for (const idx of byClass.values()) keep.push(...rng.shuffle(idx).slice(0, k));
  keep.sort((a, b) => a - b);
  const per = ws.channels * ws.length;
  const x = new Float32Array(keep.length * per);
  keep.forEach((i, j) => x.set(ws.x.subarray(i * per, (i + 1) * per), j * per));
  return { n: keep.length, channels: ws.channels, length: ws.length, x, y: Uint8Array.from(keep, (i) => y[i]!) };
}

/** A 32-bit number from a domain id (its SHA-256), so an id seeds the same agent in every run. */
function domainSeed(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32LE(0);
}
