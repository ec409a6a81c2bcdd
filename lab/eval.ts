/** `sitekd eval`: score a model artifact on a labelled domain split. */
import { z } from 'zod';
import { readArtifactFile } from '../shared/artifact/artifact-file';
import { cnnFromArtifact } from '../shared/artifact/cnn-artifact';
import { parseCommandArgs, type OptionTable } from '../shared/cli/args';
import { loadDomain, loadManifest, resolveDataDir } from '../shared/data/har';
import { evaluate } from '../shared/ml/evaluate';
import { CnnSpecSchema } from '../shared/ml/model-spec';
import { backendOption, chooseBackend, fmt, type Command } from '../shared/cli/common';

const table = {
  model: { type: 'string', description: 'model artifact (teacher or student)', placeholder: 'file' },
  data: { type: 'string', description: 'dataset directory or a root containing HAR/', placeholder: 'dir' },
  domain: { type: 'string', description: 'domain id to score', placeholder: 'id' },
  split: { type: 'string', description: 'train or test', default: 'test', placeholder: 'name' },
  json: { type: 'boolean', description: 'print one JSON object' },
  ...backendOption,
} as const satisfies OptionTable;

const schema = z.object({
  model: z.string().min(1),
  data: z.string().min(1),
  domain: z.string().min(1),
  split: z.enum(['train', 'test']).default('test'),
  json: z.boolean().default(false),
  backend: z.string().optional(),
});

export const evalCommand: Command = {
  summary: 'score a model artifact on a domain split (macro-F1, accuracy, confusion matrix)',
  usage: { table, schema },
  async run(argv, io) {
    const a = parseCommandArgs('eval', argv, table, schema);
    const backend = await chooseBackend(a.backend, io);
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
  },
};
