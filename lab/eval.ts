/** `sitekd eval`: score a model artifact on a labelled domain split. */
import { readArtifactFile } from '../shared/artifact/artifact-file';
import { cnnFromArtifact } from '../shared/artifact/cnn-artifact';
import { defineCommand } from '../shared/cli/command';
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { evaluate } from '../shared/ml/evaluate';
import { CnnSpecSchema } from '../shared/ml/model-spec';
import { chooseBackend, fmt } from '../shared/cli/common';
import { evalSpec } from './specs';

/** Rows = true class, columns = predicted, as counts; class names shortened to fit. */
function confusionTable(m: readonly (readonly number[])[], names: readonly string[]): string[] {
  const label = (i: number): string => (names[i] ?? `class${i}`).slice(0, 10);
  const w = Math.max(5, ...m.flat().map((v) => String(v).length), ...m.map((_, i) => label(i).length));
  const head = `${'true \\ predicted'.padEnd(16)} ${m.map((_, j) => label(j).padStart(w)).join(' ')}`;
  return [head, ...m.map((row, i) => `${label(i).padEnd(16)} ${row.map((v) => String(v).padStart(w)).join(' ')}`)];
}

export const evalCommand = defineCommand(evalSpec, async (a, { io, log }) => {
  const backend = await chooseBackend(a.backend, io, log);
  const art = await readArtifactFile(a.model, { specSchema: CnnSpecSchema });
  const net = cnnFromArtifact(art);
  const domain = loadDomain(loadManifest(resolveDataDir(a.data)), a.domain);
  const score = evaluate(net, domain[a.split]);
  const result = {
    model: art.version, kind: art.kind, algorithm: art.algorithm, sha256: art.sha256, domain: a.domain, split: a.split,
    n: score.n, macroF1: score.macroF1, accuracy: score.accuracy, confusion: score.confusion, backend: backend.name,
  };
  if (a.json) {
    io.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  }
  const names = loadManifest(resolveDataDir(a.data)).classNames;
  io.stdout.write(`${art.kind} ${art.version} (${art.algorithm}) on ${a.domain}/${a.split} (${score.n} windows): macro-F1 ${fmt(score.macroF1)}, accuracy ${fmt(score.accuracy)}\n\n`);
  io.stdout.write(`${confusionTable(score.confusion, names).join('\n')}\n`);
  return 0;
});
