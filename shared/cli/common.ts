/** Pieces the ML subcommands share: backend choice, data loading, output. */
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { loadDomain, loadManifest, resolveDataDir } from '../data/har';
import { BackendNameSchema, selectBackend, type BackendChoice } from '../ml/backend';
import type { Domain } from '../ml/types';
import { ProgressReporter } from './progress';
import type { OptionTable } from './args';

export type { Command, CommandIo } from './command';
import type { CommandIo } from './command';

export const backendOption = {
  backend: { type: 'string', description: 'tfjs backend: auto, tensorflow, wasm or cpu (env SITEKD_BACKEND)', placeholder: 'name' },
} as const satisfies OptionTable;

export const backendArg = BackendNameSchema.optional();

/** The source → target pair every scenario command names. */
export const pairOptions = {
  data: { type: 'string', description: 'dataset directory (manifest.json) or a root containing HAR/', placeholder: 'dir' },
  source: { type: 'string', description: 'labelled source domain id', placeholder: 'id' },
  target: { type: 'string', description: 'unlabelled target domain id (the site)', placeholder: 'id' },
} as const satisfies OptionTable;

export const pairArgs = { data: z.string().min(1), source: z.string().min(1), target: z.string().min(1) };

export async function chooseBackend(flag: string | undefined, io: CommandIo): Promise<BackendChoice> {
  const raw = flag ?? io.env.SITEKD_BACKEND ?? 'auto';
  const pref = BackendNameSchema.safeParse(raw);
  if (!pref.success) throw new SitekdError(ErrorCode.CLI_USAGE, `unknown backend '${raw}' (use auto, tensorflow, wasm or cpu)`);
  return selectBackend(pref.data);
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

export const seedArg = z.string().regex(/^\d+$/).transform(Number).default(0);

export function fmt(x: number, digits = 2): string {
  return x.toFixed(digits);
}
