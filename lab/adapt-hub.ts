/**
 * The hub side of `sitekd adapt-eval`, built from the hub's own parts so that the benchmark measures what `sitekd hub`
 * runs: its configuration schema and defaults (hub/config.ts), its source data loader (hub/models/source-data.ts), its
 * teacher and generic student (hub/models/teacher.ts `prepareTeacher`, trained in its worker), and per site a real
 * SampleStore and SiteRegistry fed through the hub's inbound handler (hub/mqtt/inbound.ts), the code every returned
 * batch goes through. Only the broker is left out: `deliver` calls the inbound handler with the encoded batch and
 * reads the ack it would publish.
 */
import { join } from 'node:path';
import { systemClock } from '../shared/clock';
import { DropCounter } from '../shared/drop-counter';
import { ErrorCode, SitekdError } from '../shared/errors';
import type { Logger } from '../shared/log';
import type { BackendPreference } from '../shared/ml/backend';
import type { Domain } from '../shared/ml/types';
import { decode } from '../shared/protocol/codec';
import { SampleAckSchema, type SampleAck } from '../shared/protocol/messages';
import { samplesTopic } from '../shared/protocol/topics';
import { parseHubConfig, type HubConfig } from '../hub/config';
import type { GateSplit, RoundSettings } from '../hub/jobs/round';
import { loadSourceData } from '../hub/models/source-data';
import { prepareTeacher, prepareVoters, turnVoters, type InputLayout, type TeacherBundle } from '../hub/models/teacher';
import { Inbound } from '../hub/mqtt/inbound';
import { SiteRegistry } from '../hub/sites/site-registry';
import { SampleStore } from '../hub/store/sample-store';
import type { MlRunner } from '../hub/worker/ml-runner';
import type { RoundRecipe } from '../hub/worker/ml-worker-protocol';

/** Overrides of the hub's defaults (its worker's backend, epochs, round recipe, held-out share, gate confidence, minimum training windows, gate split, gate reference, adaptation's source prior and largest turn); undefined keeps the default. */
export interface HubOverrides {
  readonly backend?: BackendPreference | undefined;
  readonly epochs?: number | undefined;
  readonly teacherEpochs?: number | undefined;
  readonly roundRecipe?: RoundRecipe | undefined;
  readonly holdoutFraction?: number | undefined;
  readonly gateConfidence?: number | undefined;
  readonly minTrainWindows?: number | undefined;
  readonly gateSplit?: GateSplit | undefined;
  readonly gateReference?: 'adapted-teacher' | 'teacher' | undefined;
  readonly adaptSourcePrior?: number | undefined;
  readonly adaptTurnDegrees?: number | undefined;
  readonly turnVoters?: number | undefined;
}

const HUB_OVERRIDE_KEYS = ['backend', 'epochs', 'teacherEpochs', 'roundRecipe', 'holdoutFraction', 'gateConfidence', 'minTrainWindows', 'gateSplit', 'gateReference', 'adaptSourcePrior', 'adaptTurnDegrees', 'turnVoters'] as const satisfies ReadonlyArray<keyof HubOverrides>;

export interface AdaptHubOptions extends HubOverrides {
  readonly data: string;
  readonly source: string;
  readonly seed: number;
  readonly stateDir: string;
  readonly run: MlRunner;
  readonly log: Logger;
}

export interface AdaptHub {
  readonly config: HubConfig;
  readonly source: Domain;
  readonly input: InputLayout;
  readonly bundle: TeacherBundle;
  readonly settings: RoundSettings;
  readonly run: MlRunner;
  /** Seconds to train (or load) the teacher and the generic student. */
  readonly startSeconds: number;
}

/** What `sitekd hub` does at start, up to a ready teacher and generic student. */
export async function startAdaptHub(o: AdaptHubOptions): Promise<AdaptHub> {
  const flags: Record<string, unknown> = { data: o.data, source: o.source, seed: o.seed, stateDir: o.stateDir };
  // Each override is the hub config key of the same name; undefined keeps the hub's default.
  for (const k of HUB_OVERRIDE_KEYS) if (o[k] !== undefined) flags[k] = o[k];
  const config = parseHubConfig(flags);
  const { source, input } = loadSourceData(config, o.log);
  const started = performance.now();
  const made = {
    stateDir: config.stateDir, teacherFile: config.teacher, source, input, teacherEpochs: config.teacherEpochs, studentEpochs: config.epochs,
    seed: config.seed, backend: config.backend, run: o.run, log: o.log, now: () => Date.now(),
  };
  const own = await prepareTeacher(made);
  const voters = await prepareVoters(made, turnVoters(config));
  const bundle = voters.length > 0 ? { ...own, voters } : own;
  return { config, source, input, bundle, settings: { ...config }, run: o.run, startSeconds: (performance.now() - started) / 1000 };
}

/** One site's store, registry and inbound handler, in `dir`. */
export class SiteIntake {
  private constructor(
    readonly site: string,
    readonly store: SampleStore,
    private readonly inbound: Inbound,
    /** Acks the inbound handler published, by batch id. */
    private readonly acks: Map<string, SampleAck>,
  ) {}

  static async open(dir: string, site: string, input: InputLayout, log: Logger): Promise<SiteIntake> {
    const now = (): number => Date.now();
    const store = await SampleStore.open(join(dir, 'samples'), { now });
    const registry = await SiteRegistry.open(join(dir, 'registry.json'), { now });
    const acks = new Map<string, SampleAck>();
    const inbound = new Inbound({
      publish: async (_topic, payload) => {
        const r = decode(SampleAckSchema, payload);
        if (r.ok) acks.set(r.value.batchId, r.value);
      },
      store, registry, drops: new DropCounter({ clock: systemClock, log }), input, maxPayloadBytes: 16 * 1024 * 1024, log,
      servesSite: (s) => s === site, onSamplesStored: () => undefined, onAgentOnline: () => undefined,
    });
    return new SiteIntake(site, store, inbound, acks);
  }

  /** Hands an encoded SampleBatch of `agent` to the inbound handler; resolves with the windows stored. */
  async deliver(agent: string, payload: Uint8Array, batchId: string): Promise<number> {
    await this.inbound.handle(samplesTopic(this.site, agent), payload);
    const ack = this.acks.get(batchId);
    if (ack === undefined) throw new SitekdError(ErrorCode.STORE_WRITE, `the hub did not acknowledge batch ${batchId}`);
    if (ack.error !== undefined) throw new SitekdError(ErrorCode.STORE_WRITE, `the hub refused batch ${batchId}: ${ack.error.code}: ${ack.error.message}`);
    this.acks.delete(batchId);
    return ack.stored;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
