/** The worker side of the `predict` task (hub/worker/predict-protocol.ts): tfjs, so only the worker thread loads it. */
import { cnnFromArtifact, decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { adaptToSite } from '../../shared/ml/site-adapt';
import { predictLogits } from '../../shared/ml/train';
import type { PredictOutput, PredictTask } from './predict-protocol';

export function runPredict(task: PredictTask, backend: string): PredictOutput {
  const logits: Float32Array[] = [];
  const numClasses: number[] = [];
  task.models.forEach((bytes, i) => {
    let net = cnnFromArtifact(decodeCnnArtifact(bytes));
    if (task.adaptLast !== undefined && i === task.models.length - 1) {
      const adapted = adaptToSite(net, task.adaptTo ?? task.windows, task.adaptLast).net;
      for (const v of Object.values(net.vars)) v.dispose();
      net = adapted;
    }
    try {
      const rows = predictLogits(net, task.windows);
      logits.push(rows.data);
      numClasses.push(rows.width);
    } finally {
      for (const v of Object.values(net.vars)) v.dispose();
    }
  });
  return { logits, numClasses, backend };
}
