import { tf } from '../tf';

/** Reads and disposes scalar tensors (one sync per step; wasm is synchronous anyway). */
export function readScalars<K extends string>(named: Record<K, tf.Tensor>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of Object.keys(named) as K[]) {
    const t = named[k];
    out[k] = (t.dataSync() as Float32Array)[0] as number;
    t.dispose();
  }
  return out;
}
