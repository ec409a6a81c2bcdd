/**
 * Signs and publishes students (docs/protocol.md "Model rollout"). For a new version V of site S:
 *   1. V = `<n+1>-<sha8>` (hub/models/versioning.ts); the candidate artifact is re-encoded with V as its version and S as
 *      its target, so artifact and manifest name the same thing;
 *   2. split under the broker's packet limit, sign the manifest, save both (hub/models/model-files.ts), record V in the
 *      site registry — before anything is published, so a crash after this point republishes V at the next start
 *      and never goes back to an older version;
 *   3. publish every chunk retained QoS 1 on `S/model/V/chunk/{i}`, then the manifest retained on `S/model`
 *      (chunks first: an agent that sees the manifest finds every chunk in place);
 *   4. clear the previous version's retained chunks (empty retained payloads), and the files of every version but the
 *      site's newest `keepVersions` (so a rollback has artifacts to go back to).
 * A rollback (`rollback`) publishes an earlier version's kept artifact again under its own name, with a fresh signed
 * createdAt and the signed `rollback` field (docs/protocol.md "Rollback"). One publication per site at a time (a
 * serial queue per site), so a rollback never interleaves with a round's publication.
 */
import { decodeArtifact, encodeArtifact } from '../../shared/artifact/model-artifact';
import { maxChunkSize, splitChunks, sha256Hex } from '../../shared/protocol/chunks';
import type { ModelManifest } from '../../shared/protocol/messages';
import { signManifest, type SigningKey } from '../../shared/protocol/signing';
import { encodeJson } from '../../shared/protocol/codec';
import { MAX_CHUNKS, modelChunkTopic, modelTopic, ROOT_TOPIC } from '../../shared/protocol/topics';
import { CnnSpecSchema } from '../../shared/ml/model-spec';
import type { Logger } from '../../shared/log';
import { KeyedSerialQueue } from '../../shared/serial-queue';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { recentVersions, type ModelRecord } from '../sites/model-history';
import type { ModelFiles } from './model-files';
import { chooseRollbackTarget } from './rollback-target';
import { nextVersion } from './versioning';

export interface PublishTransport {
  publish(topic: string, payload: Uint8Array, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  readonly maxPacketBytes: number;
}

export interface VersionBook {
  modelVersion(site: string): string | undefined;
  highestVersionNumber(site: string): number;
  modelHistory(site: string): readonly ModelRecord[];
  /** Makes `record.version` the site's current version and appends it to the history (persisted). */
  recordModel(site: string, record: ModelRecord): Promise<void>;
}

export interface PublisherOptions {
  readonly transport: PublishTransport;
  readonly files: ModelFiles;
  readonly key: SigningKey;
  readonly versions: VersionBook;
  /** Preferred chunk size; lowered to fit the transport's packet limit. */
  readonly chunkBytes: number;
  readonly now: () => number;
  readonly log: Logger;
  readonly root?: string;
  /** Versions of a site whose files are kept (the newest of its history; at least the current and the one before). */
  readonly keepVersions?: number;
}

export interface PublishInfo {
  readonly algorithm: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly teacherVersion?: string | undefined;
  readonly rollback?: ModelManifest['rollback'];
}

export interface RollbackRequest {
  /** The version to go back to; default: the one served before the current one (model-history.ts `servedBefore`). */
  readonly to?: string | undefined;
  readonly reason: string;
  readonly trigger: 'command' | 'evidence';
  /** Refuse (JOB_REJECTED) unless the site still serves this version: a decision about it is stale otherwise. */
  readonly onlyFrom?: string | undefined;
}

const EMPTY = new Uint8Array(0);

export class ModelPublisher {
  private readonly perSite = new KeyedSerialQueue();
  private readonly current = new Map<string, ModelManifest>();
  private readonly root: string;

  constructor(private readonly o: PublisherOptions) {
    this.root = o.root ?? ROOT_TOPIC;
  }

  /** The manifest last published for a site by this process. */
  manifest(site: string): ModelManifest | undefined {
    return this.current.get(site);
  }

  /** Largest chunk that fits the packet limit on this site's chunk topics (and the preferred size). */
  chunkSize(site: string, version: string): number {
    const topicLength = Buffer.byteLength(modelChunkTopic(site, version, MAX_CHUNKS - 1, this.root));
    return Math.min(this.o.chunkBytes, maxChunkSize(this.o.transport.maxPacketBytes, topicLength));
  }

  /** Publishes `candidate` (artifact bytes) as the site's next version. */
  publish(site: string, candidate: Uint8Array, info: PublishInfo): Promise<ModelManifest> {
    return this.perSite.run(site, async () => {
      const previous = this.o.versions.modelVersion(site);
      const previousManifest = this.current.get(site) ?? (await this.o.files.loadManifest(site, previous));
      const version = nextVersion(previous, sha256Hex(candidate), this.o.versions.highestVersionNumber(site));
      const bytes = restamp(candidate, version, site, this.o.now());
      const manifest = this.sign(site, version, bytes, info, this.o.now());
      await this.o.files.save(site, bytes, manifest);
      await this.o.versions.recordModel(site, { version, at: manifest.createdAt, kind: 'published' });
      await this.replace(site, bytes, manifest, previousManifest, previous);
      this.o.log.info('model published', { site, version, bytes: bytes.byteLength, chunks: manifest.chunks, previous });
      return manifest;
    });
  }

  /**
   * Publishes an earlier version of the site again (see the module comment). Throws, before publishing anything,
   * MODEL_VERSION_UNKNOWN, ROLLBACK_TO_CURRENT (rollback-target.ts) or MODEL_MISSING (its files are gone or damaged).
   */
  rollback(site: string, req: RollbackRequest): Promise<ModelManifest> {
    return this.perSite.run(site, async () => {
      const from = this.o.versions.modelVersion(site);
      if (req.onlyFrom !== undefined && req.onlyFrom !== from) {
        throw new SitekdError(ErrorCode.JOB_REJECTED, `site ${site} serves ${from ?? 'nothing'} now, not ${req.onlyFrom}: the rollback was decided for ${req.onlyFrom}`, { details: { site } });
      }
      if (from === undefined) throw new SitekdError(ErrorCode.MODEL_VERSION_UNKNOWN, `site ${site} serves no version yet: nothing to roll back`, { details: { site } });
      const to = chooseRollbackTarget({ site, current: from, requested: req.to, history: this.o.versions.modelHistory(site), kept: await this.o.files.versions(site) });
      const stored = await this.o.files.load(site, to);
      if (stored === undefined) {
        throw new SitekdError(ErrorCode.MODEL_MISSING, `site ${site} served ${to}, but the hub no longer holds its artifact (or it fails its check)`, { details: { site, version: to } });
      }
      const fromManifest = this.current.get(site) ?? (await this.o.files.loadManifest(site, from));
      const { algorithm, metrics, teacherVersion } = stored.manifest;
      const manifest = this.sign(site, to, stored.bytes, { algorithm, metrics, teacherVersion, rollback: { from, reason: req.reason.slice(0, 1000) } }, this.o.now());
      await this.o.files.saveManifest(site, manifest);
      await this.o.versions.recordModel(site, { version: to, at: manifest.createdAt, kind: 'rollback', from, reason: req.reason.slice(0, 1000), trigger: req.trigger });
      await this.replace(site, stored.bytes, manifest, fromManifest, from);
      this.o.log.info('model rolled back', { site, version: to, from, trigger: req.trigger, reason: req.reason });
      return manifest;
    });
  }

  /** Sends the new current manifest, then clears the replaced version's chunks and prunes old files. */
  private async replace(site: string, bytes: Uint8Array, manifest: ModelManifest, replaced: ModelManifest | undefined, previous: string | undefined): Promise<void> {
    await this.send(site, bytes, manifest);
    if (replaced !== undefined && replaced.version !== manifest.version) await this.clearChunks(site, replaced, 0);
    const keep = recentVersions(this.o.versions.modelHistory(site), Math.max(2, this.o.keepVersions ?? 5));
    await this.o.files.prune(site, [manifest.version, previous, ...keep]);
  }

  /**
   * Publishes the site's current version again from disk (hub start, broker reconnect: the broker may have lost its
   * retained messages). Re-signs when the key changed or the chunks no longer fit. Undefined when the files are
   * missing or damaged: the caller then publishes a fresh model.
   */
  republish(site: string): Promise<ModelManifest | undefined> {
    return this.perSite.run(site, async () => {
      const version = this.o.versions.modelVersion(site);
      const stored = await this.o.files.load(site, version);
      if (version === undefined || stored === undefined) return undefined;
      let manifest = stored.manifest;
      if (manifest.keyId !== this.o.key.keyId || manifest.chunkSize > this.chunkSize(site, version)) {
        const { algorithm, metrics, teacherVersion, rollback, createdAt } = manifest;
        manifest = this.sign(site, version, stored.bytes, { algorithm, metrics, teacherVersion, rollback }, createdAt);
        await this.o.files.saveManifest(site, manifest);
        if (manifest.chunks < stored.manifest.chunks) await this.clearChunks(site, stored.manifest, manifest.chunks);
        this.o.log.info('model manifest re-signed', { site, version, chunkSize: manifest.chunkSize, keyId: manifest.keyId });
      }
      await this.send(site, stored.bytes, manifest);
      return manifest;
    });
  }

  private sign(site: string, version: string, bytes: Uint8Array, info: PublishInfo, createdAt: number): ModelManifest {
    const split = splitChunks(bytes, this.chunkSize(site, version));
    const spec = CnnSpecSchema.parse(decodeArtifact(bytes).spec);
    return signManifest(
      {
        site, version, sha256: split.sha256, size: split.size, chunkSize: split.chunkSize, chunks: split.chunks.length,
        chunkSha256: [...split.chunkSha256], spec, algorithm: info.algorithm.slice(0, 32), metrics: wireMetrics(info.metrics),
        ...(info.teacherVersion !== undefined ? { teacherVersion: info.teacherVersion } : {}),
        ...(info.rollback !== undefined ? { rollback: info.rollback } : {}), createdAt,
      },
      this.o.key.privateKeyPem,
      this.o.key.keyId,
    );
  }

  private async send(site: string, bytes: Uint8Array, manifest: ModelManifest): Promise<void> {
    const { chunks } = splitChunks(bytes, manifest.chunkSize);
    await Promise.all(chunks.map((c, i) => this.o.transport.publish(modelChunkTopic(site, manifest.version, i, this.root), c, { qos: 1, retain: true })));
    await this.o.transport.publish(modelTopic(site, this.root), encodeJson(manifest), { qos: 1, retain: true });
    this.current.set(site, manifest);
  }

  /** An empty retained publish deletes the retained message (MQTT 3.1.1 §3.3.1.3). */
  private async clearChunks(site: string, manifest: ModelManifest, from: number): Promise<void> {
    const topics: string[] = [];
    for (let i = from; i < manifest.chunks; i++) topics.push(modelChunkTopic(site, manifest.version, i, this.root));
    await Promise.all(topics.map((t) => this.o.transport.publish(t, EMPTY, { qos: 1, retain: true })));
  }

}

/** The artifact with the published version, the site as its target and the publication time. */
function restamp(candidate: Uint8Array, version: string, site: string, now: number): Uint8Array {
  const { format: _f, formatVersion: _v, sha256: _s, ...a } = decodeArtifact(candidate);
  return encodeArtifact({ ...a, version, target: site, createdAt: new Date(now).toISOString() });
}

/** Manifest metrics: finite, within ±1e9, at most 64, names 1-64 characters (ModelManifestSchema). */
function wireMetrics(m: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m).slice(0, 64)) {
    if (k.length >= 1 && k.length <= 64 && Number.isFinite(v) && Math.abs(v) <= 1e9) out[k] = v;
  }
  return out;
}
