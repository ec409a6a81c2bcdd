/** The worker side of the `predict` task (hub/worker/predict-protocol.ts): tfjs, so only the worker thread loads it. */
import { cnnFromArtifact, decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { predictLogits } from '../../shared/ml/train';
import type { PredictOutput, PredictTask } from './predict-protocol';

export function runPredict(task: PredictTask, backend: string): PredictOutput {
  const logits: Float32Array[] = [];
  const numClasses: number[] = [];
  for (const bytes of task.models) {
    const net = cnnFromArtifact(decodeCnnArtifact(bytes));
    try {
      const rows = predictLogits(net, task.windows);
      logits.push(rows.data);
      numClasses.push(rows.width);
    } finally {
      for (const v of Object.values(net.vars)) v.dispose();
    }
  }
  return { logits, numClasses, backend };
}
