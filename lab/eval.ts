/** `sitekd eval`: score a model artifact on a labelled domain split. */
import { readArtifactFile } from '../shared/artifact/artifact-file';
import { cnnFromArtifact } from '../shared/artifact/cnn-artifact';
import { defineCommand } from '../shared/cli/command';
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { evaluate } from '../shared/ml/evaluate';
import { CnnSpecSchema } from '../shared/ml/model-spec';
import { chooseBackend, fmt } from '../shared/cli/common';
import { evalSpec } from './specs';

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
  io.stdout.write(a.json ? `${JSON.stringify(result)}\n`
    : `${art.kind} ${art.version} (${art.algorithm}) on ${a.domain}/${a.split} (${score.n} windows): macro-F1 ${fmt(score.macroF1)}, accuracy ${fmt(score.accuracy)}\n`);
  return 0;
});
