/** Pieces the ML subcommands share: backend choice, data loading, output. */
import { ErrorCode, SitekdError } from '../errors';
import { loadDomain, loadManifest, resolveDataDir } from '../data/har';
import { BackendNameSchema, selectBackend, type BackendChoice, type BackendPreference } from '../ml/backend';
import type { Domain } from '../ml/types';
import { silentLogger, type Logger } from '../log';
import { ProgressReporter } from './progress';

export type { Command, CommandIo } from './command';
import type { CommandIo } from './command';

/** `--backend`, else SITEKD_BACKEND, else auto; the choice (and why better ones were skipped) is logged at debug. */
export async function chooseBackend(flag: BackendPreference | undefined, io: CommandIo, log: Logger = silentLogger): Promise<BackendChoice> {
  const raw = flag ?? io.env.SITEKD_BACKEND ?? 'auto';
  const pref = BackendNameSchema.safeParse(raw);
  if (!pref.success) throw new SitekdError(ErrorCode.CLI_USAGE, `unknown backend '${raw}' in SITEKD_BACKEND (use auto, tensorflow, wasm or cpu)`);
  const choice = await selectBackend(pref.data);
  log.debug('backend selected', { backend: choice.name, asked: pref.data, skipped: choice.skipped });
  return choice;
}

export interface LoadedPair {
  readonly source: Domain;
  readonly target: Domain;
  readonly numClasses: number;
  readonly classNames: readonly string[];
}

export function loadPair(data: string, sourceId: string, targetId: string): LoadedPair {
  const dir = resolveDataDir(data);
  const manifest = loadManifest(dir);
  return {
    source: loadDomain(manifest, sourceId),
    target: loadDomain(manifest, targetId),
    numClasses: manifest.classNames.length,
    classNames: manifest.classNames,
  };
}

/** A progress reporter per trained model: a bar on a TTY, one plain line per epoch otherwise (always on stderr). */
export function epochReporter(io: CommandIo): (what: string, epoch: number, epochs: number, losses: Record<string, number>) => void {
  let current: { what: string; bar: ProgressReporter } | undefined;
  return (what, epoch, epochs, losses) => {
    if (current?.what !== what) {
      current?.bar.finish();
      io.stderr.write(`${what}:\n`);
      current = { what, bar: new ProgressReporter(epochs, { stream: io.stderr }) };
    }
    const loss = losses.total;
    current.bar.epochEnd({ epoch, ...(loss !== undefined ? { loss } : {}) });
    if (epoch === epochs) {
      current.bar.finish();
      current = undefined;
    }
  };
}

export function fmt(x: number, digits = 2): string {
  return x.toFixed(digits);
}
