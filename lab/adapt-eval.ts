/**
 * `sitekd adapt-eval`: how much the hub's label-free loop improves each site's student, measured on the path the hub
 * ships. The hub starts as `sitekd hub` does (its config defaults, teacher and generic student from the labelled
 * source domains: lab/adapt-hub.ts); then each site (a domain of the data set) streams its train recording through the
 * agent's window buffer and sample selector under the agent's default upload budget, the returned batches go through
 * the hub's inbound handler into a real sample store, and the hub's round function runs R times as the windows arrive
 * (lab/adapt-site.ts). The generic student, every candidate (published or not) and an oracle trained with the site's
 * train labels are scored on the site's test split. Output: a table per site and the summary (lab/adapt-report.ts);
 * `--json` adds one closing line with every figure.
 */
import { UploadConfigSchema } from '../agent/config';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand } from '../shared/cli/command';
import { chooseBackend } from '../shared/cli/common';
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { ErrorCode, SitekdError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { BackendPreference } from '../shared/ml/backend';
import { runMlTask, type MlRunner } from '../hub/worker/ml-runner';
import { startAdaptHub, type HubOverrides } from './adapt-hub';
import { renderSite, renderSummary, summarize, type SiteResult, type Summary } from './adapt-report';
import { runSite } from './adapt-site';
import { adaptEvalSpec } from './specs';

export interface AdaptEvalRequest extends HubOverrides {
  readonly data: string;
  readonly source: readonly string[];
  readonly sites: readonly string[];
  readonly windows: number;
  readonly rounds: number;
  readonly seed: number;
  readonly log: Logger;
  /** Runs training tasks (default: the hub's worker thread per task). */
  readonly run?: MlRunner;
  readonly onSite?: (r: SiteResult) => void;
  /** The agent's `upload.randomShare`; undefined keeps its default. */
  readonly randomShare?: number | undefined;
  /** Each site's labelled set for the hub: this many windows per class of its train split; undefined: none. */
  readonly labelledPerClass?: number | undefined;
}

export interface AdaptEvalResult {
  readonly sites: readonly SiteResult[];
  readonly summary: Summary;
  /** Seconds to train the hub's teacher and generic student. */
  readonly hubStartSeconds: number;
  readonly settings: { readonly epochs: number; readonly teacherEpochs: number; readonly backend: string; readonly preset: string; readonly gateReference: string; readonly adaptSourcePrior: number; readonly adaptTurnDegrees: number; readonly turnVoters: number; readonly holdoutFraction: number; readonly roundRecipe: string; readonly gateSplit: string; readonly gateConfidence: number; readonly gateMargin: number; readonly gateMinGain: number; readonly minTrainWindows: number; readonly randomShare: number; readonly labelledPerClass: number };
}

/** Throws CLI_USAGE for requests that cannot measure anything. */
function checkRequest(r: AdaptEvalRequest): void {
  const usage = (m: string): never => {
    throw new SitekdError(ErrorCode.CLI_USAGE, m, { details: { command: 'adapt-eval' } });
  };
  if (r.windows < r.rounds) usage(`--windows ${r.windows} cannot feed ${r.rounds} rounds: every round needs new windows`);
  const twice = r.sites.find((s, i) => r.sites.indexOf(s) !== i);
  if (twice !== undefined) usage(`site ${twice} is listed twice in --sites`);
  const both = r.sites.find((s) => r.source.includes(s));
  if (both !== undefined) usage(`domain ${both} is both a source and a site: the hub would have trained on its labels`);
}

export async function runAdaptEval(r: AdaptEvalRequest): Promise<AdaptEvalResult> {
  checkRequest(r);
  const manifest = loadManifest(resolveDataDir(r.data));
  const domains = r.sites.map((id) => loadDomain(manifest, id));
  const dir = fs.mkdtempSync(join(tmpdir(), 'sitekd-adapt-eval-'));
  try {
    const hub = await startAdaptHub({
      data: manifest.dir, source: r.source.join(','), seed: r.seed, backend: r.backend, epochs: r.epochs, teacherEpochs: r.teacherEpochs,
      roundRecipe: r.roundRecipe, holdoutFraction: r.holdoutFraction, gateConfidence: r.gateConfidence, minTrainWindows: r.minTrainWindows, gateSplit: r.gateSplit, gateReference: r.gateReference, adaptSourcePrior: r.adaptSourcePrior, adaptTurnDegrees: r.adaptTurnDegrees, turnVoters: r.turnVoters, stateDir: join(dir, 'hub'), run: r.run ?? runMlTask, log: r.log,
    });
    const sites: SiteResult[] = [];
    for (const [index, domain] of domains.entries()) {
      const siteDir = join(dir, 'sites', String(index));
      const res = await runSite({
        hub, domain, index, samplingRateHz: manifest.samplingRateHz ?? 50, windows: r.windows, rounds: r.rounds, seed: r.seed, randomShare: r.randomShare, labelledPerClass: r.labelledPerClass, dir: siteDir, log: r.log,
      });
      sites.push(res);
      r.onSite?.(res);
    }
    const c = hub.config;
    return {
      sites, summary: summarize(sites), hubStartSeconds: hub.startSeconds,
      settings: {
        epochs: c.epochs, teacherEpochs: c.teacherEpochs, backend: c.backend, preset: c.preset, gateReference: c.gateReference, adaptSourcePrior: c.adaptSourcePrior, adaptTurnDegrees: c.adaptTurnDegrees, turnVoters: c.turnVoters, holdoutFraction: c.holdoutFraction,
        roundRecipe: c.roundRecipe, gateSplit: c.gateSplit, gateConfidence: c.gateConfidence, gateMargin: c.gateMargin, gateMinGain: c.gateMinGain, minTrainWindows: c.minTrainWindows, randomShare: r.randomShare ?? UploadConfigSchema.parse({}).randomShare,
        labelledPerClass: r.labelledPerClass ?? 0,
      },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The `--json` line: the summary, the settings, and per site its figures with every round. */
export function resultJson(res: AdaptEvalResult): string {
  const sites = res.sites.map((s, i) => ({ ...res.summary.sites[i], accuracy: { generic: s.generic.accuracy, final: s.final.accuracy, oracle: s.oracle.accuracy }, testWindows: s.testWindows, stream: s.stream, rounds: s.rounds }));
  const out = { ...res.summary, sites, settings: res.settings, hubStartSeconds: res.hubStartSeconds };
  return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10_000) / 10_000 : v));
}

export const adaptEvalCommand = defineCommand(adaptEvalSpec, async (a, { io, log }) => {
  // The hub's default backend unless one is asked for, here and in its worker.
  const backend = (await chooseBackend(a.backend ?? (io.env.SITEKD_BACKEND as BackendPreference | undefined) ?? 'wasm', io, log)).name;
  const res = await runAdaptEval({
    data: a.data, source: a.source, sites: a.sites, windows: a.windows, rounds: a.rounds, seed: a.seed, epochs: a.epochs, teacherEpochs: a['teacher-epochs'],
    roundRecipe: a['round-recipe'], randomShare: a['random-share'], holdoutFraction: a['holdout-fraction'], gateConfidence: a['gate-confidence'], minTrainWindows: a['min-train-windows'], gateSplit: a['gate-split'], gateReference: a['gate-reference'], adaptSourcePrior: a['adapt-source-prior'], adaptTurnDegrees: a['adapt-turn-degrees'], turnVoters: a['turn-voters'], labelledPerClass: a['labelled-per-class'],
    backend, log, onSite: (s) => io.stdout.write(`${renderSite(s).join('\n')}\n\n`),
  });
  io.stdout.write(`${renderSummary(res.summary).join('\n')}\n`);
  if (a.json) io.stdout.write(`${resultJson(res)}\n`);
  return 0;
});
