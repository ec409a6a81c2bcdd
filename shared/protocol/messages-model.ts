/** Hub → : the signed, retained model manifest that starts a rollout (docs/protocol.md "Model rollout"). */
import { z } from 'zod';
import { CnnSpecSchema } from '../ml/model-spec';
import { MAX_CHUNKS } from './topics';
import { Finite, Hex64, Id, MAX_MODEL_BYTES, maxKeys, Text, TimeMs, Version } from './message-fields';

export const ModelManifestSchema = z
  .strictObject({
    site: Id,
    version: Version,
    /** sha256 of the whole model artifact (the bytes of all chunks, in order). */
    sha256: Hex64,
    size: z.number().int().min(1).max(MAX_MODEL_BYTES),
    chunkSize: z.number().int().min(1).max(MAX_MODEL_BYTES),
    chunks: z.number().int().min(1).max(MAX_CHUNKS),
    chunkSha256: z.array(Hex64).min(1).max(MAX_CHUNKS),
    spec: CnnSpecSchema,
    algorithm: Text(32),
    metrics: z.record(Text(64), Finite).refine(maxKeys(64), 'at most 64 metrics'),
    teacherVersion: Version.optional(),
    /**
     * Present only on a rollback: this manifest republishes an earlier version's artifact, replacing `from`. Signed
     * like every other field, so an agent can tell an intended downgrade from a replayed old manifest.
     */
    rollback: z.strictObject({ from: Version, reason: Text(1000) }).optional(),
    createdAt: TimeMs,
    /** First 16 hex digits of sha256(raw Ed25519 public key). */
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits'),
    /** Ed25519 over the canonical JSON of every other field (shared/protocol/signing.ts). */
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 Ed25519 signature (64 bytes)'),
  })
  .superRefine((m, ctx) => {
    const expected = Math.ceil(m.size / m.chunkSize);
    if (m.chunks !== expected) {
      ctx.addIssue({ code: 'custom', path: ['chunks'], message: `must be ceil(size / chunkSize) = ${expected}` });
    }
    if (m.chunkSha256.length !== m.chunks) {
      ctx.addIssue({ code: 'custom', path: ['chunkSha256'], message: `must have one hash per chunk (${m.chunks})` });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifestSchema>;
