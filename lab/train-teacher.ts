/** `sitekd train-teacher`: train the 64/128/128 DANN teacher for a source → target pair and save it. */
import { writeArtifactFile } from '../shared/artifact/artifact-file';
import { cnnToArtifact } from '../shared/artifact/cnn-artifact';
import { defineCommand } from '../shared/cli/command';
import { evaluate } from '../shared/ml/evaluate';
import { countParams, inputFor, specFor } from '../shared/ml/model-spec';
import { train } from '../shared/ml/train';
import { chooseBackend, epochReporter, fmt, loadPair } from '../shared/cli/common';
import { trainTeacherSpec } from './specs';

export const trainTeacherCommand = defineCommand(trainTeacherSpec, async (a, { io, log }) => {
  const backend = await chooseBackend(a.backend, io, log);
  const pair = loadPair(a.data, a.source, a.target);
  const input = inputFor(pair.source.train.channels, pair.source.train.length, pair.numClasses);
  const report = epochReporter(io);
  const r = train({
    algorithm: 'dann', spec: specFor(input, 'teacher'), source: pair.source.train, target: pair.target.train, seed: a.seed,
    hparams: { epochs: a.epochs }, onEpoch: (e, n, l) => report('teacher', e, n, l),
  });
  const score = evaluate(r.net, pair.target.test);
  const version = `t-${a.source}-${a.target}-s${a.seed}`;
  const sha256 = await writeArtifactFile(a.out, cnnToArtifact(r.net, {
    kind: 'teacher', version, algorithm: 'dann', hparams: r.hparams, source: a.source, target: a.target, seed: a.seed,
    backend: backend.name, metrics: { macroF1: score.macroF1, accuracy: score.accuracy },
  }));
  const result = {
    version, sha256, source: a.source, target: a.target, seed: a.seed, macroF1: score.macroF1, accuracy: score.accuracy,
    params: countParams(r.net.spec), trainSeconds: r.trainSeconds, backend: backend.name, out: a.out,
  };
  io.stdout.write(a.json ? `${JSON.stringify(result)}\n`
    : `teacher ${version}: target macro-F1 ${fmt(score.macroF1)}, accuracy ${fmt(score.accuracy)}, ${fmt(r.trainSeconds, 1)} s on ${backend.name}; wrote ${a.out}\n`);
  return 0;
});
