/**
 * Model artifacts on disk. Writes are atomic (tmp file, fsync, rename, fsync dir) so that a crash or power loss
 * mid-write leaves either the old file or the new one, never a torn artifact an agent would then refuse to load.
 */
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../fs/atomic-file';
import { ErrorCode, SitekdError } from '../errors';
import {
  artifactDigest,
  decodeArtifact,
  encodeArtifact,
  type DecodeOptions,
  type DecodedArtifact,
  type ModelArtifact,
  type ModelSpecLike,
} from './model-artifact';

export function readArtifactFile(path: string): Promise<DecodedArtifact>;
export function readArtifactFile<S>(path: string, opts: DecodeOptions<S>): Promise<DecodedArtifact<S>>;
/** Reads and verifies an artifact: `MODEL_LOAD` if the file cannot be read, else the codes of `decodeArtifact`. */
export async function readArtifactFile<S>(
  path: string,
  opts?: DecodeOptions<S>,
): Promise<DecodedArtifact<S | ModelSpecLike>> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    throw new SitekdError(ErrorCode.MODEL_LOAD, `cannot read model artifact ${path}`, { cause: err, details: { path } });
  }
  return opts === undefined ? decodeArtifact(bytes) : decodeArtifact(bytes, opts);
}

/** Encodes and writes atomically; returns the artifact's sha256. I/O failures are `MODEL_WRITE`. */
export async function writeArtifactFile(path: string, artifact: ModelArtifact<object>): Promise<string> {
  // Encode first: an invalid artifact (MODEL_CORRUPT) must not leave a tmp file behind.
  const bytes = encodeArtifact(artifact);
  try {
    await writeFileAtomic(path, bytes);
  } catch (err) {
    throw new SitekdError(ErrorCode.MODEL_WRITE, `cannot write model artifact ${path}`, { cause: err, details: { path } });
  }
  return artifactDigest(bytes);
}
