/** `sitekd distill`: distill a student for a target domain (training a DANN teacher first unless one is given). */
import { readArtifactFile, writeArtifactFile } from '../shared/artifact/artifact-file';
import { cnnFromArtifact, cnnToArtifact } from '../shared/artifact/cnn-artifact';
import { defineCommand } from '../shared/cli/command';
import { UNIKD_PRESETS } from '../shared/ml/algorithms/unikd-options';
import { CnnSpecSchema } from '../shared/ml/model-spec';
import { runScenario } from './scenario';
import { chooseBackend, epochReporter, fmt, loadPair } from '../shared/cli/common';
import { distillSpec } from './specs';

export const distillCommand = defineCommand(distillSpec, async (a, { io, log }) => {
  const backend = await chooseBackend(a.backend, io, log);
  const pair = loadPair(a.data, a.source, a.target);
  const teacherFile = a.teacher === undefined ? undefined : await readArtifactFile(a.teacher, { specSchema: CnnSpecSchema });
  const teacher = teacherFile ? cnnFromArtifact(teacherFile) : undefined;
  const res = runScenario({
    source: pair.source, target: pair.target, seed: a.seed, numClasses: pair.numClasses,
    students: [a.algorithm], preset: a.preset, hparams: { epochs: a.epochs }, teacherHparams: { epochs: a.epochs },
    ...(teacher ? { teacher } : { teacherCandidates: a.teachers }),
    onEpoch: epochReporter(io),
  });
  const student = res.students[0]!;
  const teacherVersion = teacherFile?.version ?? `t-${a.source}-${a.target}-s${a.seed}`;
  const result = {
    algorithm: a.algorithm, preset: a.algorithm === 'unikd' ? a.preset : undefined, source: a.source, target: a.target, seed: a.seed,
    macroF1: round(student.score.macroF1), accuracy: round(student.score.accuracy), macroF1Official: round(student.scoreOfficial.macroF1),
    teacherMacroF1: round(res.teacher.score.macroF1), teacherAccuracy: round(res.teacher.score.accuracy),
    studentParams: student.params, teacherParams: res.teacher.params,
    trainSeconds: round(student.trainSeconds), teacherTrainSeconds: round(res.teacher.trainSeconds),
    teacherCandidates: res.candidates?.outcomes.length ?? 1, chosenTeacher: (res.candidates?.chosen ?? 0) + 1,
    backend: backend.name, options: a.algorithm === 'unikd' ? UNIKD_PRESETS[a.preset] : undefined, testWindows: student.score.n,
  };
  if (a.out !== undefined) {
    await writeArtifactFile(a.out, cnnToArtifact(student.net, {
      kind: 'student', version: `s-${a.source}-${a.target}-${a.algorithm}-s${a.seed}`, algorithm: a.algorithm,
      options: student.options ?? {}, hparams: student.hparams ?? {}, teacherVersion, source: a.source, target: a.target,
      seed: a.seed, backend: backend.name, metrics: { macroF1: student.score.macroF1, accuracy: student.score.accuracy },
    }));
  }
  if (a.json) {
    io.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    io.stdout.write(
      `${a.source} → ${a.target} (seed ${a.seed}, backend ${backend.name})\n` +
        `  teacher (DANN, ${res.teacher.params} params): macro-F1 ${fmt(res.teacher.score.macroF1)}  accuracy ${fmt(res.teacher.score.accuracy)}\n` +
        `  student (${a.algorithm}, ${student.params} params): macro-F1 ${fmt(student.score.macroF1)}  accuracy ${fmt(student.score.accuracy)}  ` +
        `trained in ${fmt(student.trainSeconds, 1)} s\n` + (a.out ? `  wrote ${a.out}\n` : ''),
    );
  }
  return 0;
});

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
