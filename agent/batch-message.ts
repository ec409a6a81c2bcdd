/**
 * A SampleBatch on the wire, built from what the SampleSelector hands out. One place for the agent's uploader and for
 * `sitekd adapt-eval` (lab/adapt-agent.ts), which replays the agent's selection: what the benchmark returns to the hub
 * is byte for byte what an agent would send.
 */
import { f32ToBytes } from '../shared/protocol/codec';
import type { SampleBatch as SampleBatchMessage } from '../shared/protocol/messages';
import type { SampleBatch } from './sample-selector';

/** Bytes per window on the wire: float32 window and logits, a float64 start (msgpack: 9 bytes), a selectedBy code (1). */
export function bytesPerWindow(windowLength: number, channels: number, numClasses: number): number {
  return 4 * windowLength * channels + 4 * numClasses + 10;
}

/** The most windows one batch may hold: the configured cap, or what fits under the packet limit (2 KiB for the rest). */
export function batchRoom(maxBatch: number, maxPacketBytes: number, perWindow: number): number {
  return Math.max(1, Math.min(maxBatch, Math.floor((maxPacketBytes - 2048) / perWindow)));
}

export interface BatchMeta {
  readonly batchId: string;
  readonly site: string;
  readonly agent: string;
  readonly modelVersion: string;
  readonly channels: number;
  readonly windowLength: number;
  readonly numClasses: number;
  readonly createdAt: number;
}

export function batchMessage(batch: SampleBatch, meta: BatchMeta): SampleBatchMessage {
  return {
    ...meta,
    n: batch.n,
    windows: f32ToBytes(batch.windows),
    logits: f32ToBytes(batch.logits),
    windowStarts: Array.from(batch.windowStarts),
    selectedBy: Array.from(batch.selectedBy, (code) => (code === 0 ? 0 : 1)),
  };
}
