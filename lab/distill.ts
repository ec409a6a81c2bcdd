/** `sitekd distill`: distill a student for a target domain (training a DANN teacher first unless one is given). */
import { z } from 'zod';
import { readArtifactFile, writeArtifactFile } from '../shared/artifact/artifact-file';
import { cnnFromArtifact, cnnToArtifact } from '../shared/artifact/cnn-artifact';
import { intArg, parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { UNIKD_PRESETS } from '../shared/ml/algorithms/unikd-options';
import { CnnSpecSchema } from '../shared/ml/model-spec';
import { runScenario } from './scenario';
import { backendOption, chooseBackend, pairArgs, pairOptions, epochReporter, fmt, loadPair, type Command } from '../shared/cli/common';

const table = {
  ...pairOptions,
  teacher: { type: 'string', description: 'teacher artifact; a DANN teacher is trained when absent', placeholder: 'file' },
  algorithm: { type: 'string', description: 'unikd, kd or source-only', default: 'unikd', placeholder: 'name' },
  preset: { type: 'string', description: 'UNI-KD flags: code (released code) or paper (paper intent)', default: 'code', placeholder: 'name' },
  epochs: { type: 'string', description: 'training epochs (teacher and student)', default: '10', placeholder: 'n' },
  teachers: { type: 'string', description: 'DANN teachers to train; >1 distills from their consensus choice (no target labels)', default: '1', placeholder: 'n' },
  seed: { type: 'string', description: 'random seed', default: '0', placeholder: 'n' },
  out: { type: 'string', description: 'write the student artifact here', placeholder: 'file' },
  json: { type: 'boolean', description: 'print one JSON object with the results' },
  ...backendOption,
} as const satisfies OptionTable;

const schema = z.object({
  ...pairArgs,
  teacher: z.string().optional(),
  algorithm: z.enum(['unikd', 'kd', 'source-only']).default('unikd'),
  preset: z.enum(['code', 'paper']).default('code'),
  epochs: intArg({ min: 1, max: 10_000 }).default(10),
  teachers: intArg({ min: 1, max: 16 }).default(1),
  seed: intArg({ min: 0 }).default(0),
  out: z.string().optional(),
  json: z.boolean().default(false),
  backend: z.string().optional(),
});

export const distillCommand: Command = {
  summary: 'distill a student for a target domain with UNI-KD (or kd / source-only)',
  usage: { table, schema },
  async run(argv, io) {
    const a = parseCommandArgs('distill', argv, table, schema);
    const backend = await chooseBackend(a.backend, io);
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
  },
};

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
