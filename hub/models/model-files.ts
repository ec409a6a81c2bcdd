/**
 * Published student models on disk, per site: `<state>/models/sites/<site>/<version>.skdm` (the artifact bytes
 * exactly as chunked) and `<version>.manifest.json` (the signed manifest as published). The current version is the
 * one the site registry names; the publisher keeps it and the site's newest versions before it, so the hub can
 * republish after a restart without retraining, roll a site back to an earlier version, and an operator can see
 * what was rolled out.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../shared/protocol/chunks';
import { ModelManifestSchema, type ModelManifest } from '../../shared/protocol/messages';
import { isValidSiteId } from '../../shared/protocol/topics';
import { quarantineFile, writeFileAtomic } from '../store/atomic-file';

const ARTIFACT_EXT = '.skdm';
const MANIFEST_EXT = '.manifest.json';

export interface StoredModel {
  readonly bytes: Uint8Array;
  readonly manifest: ModelManifest;
}

export class ModelFiles {
  constructor(private readonly root: string) {}

  siteDir(site: string): string {
    // Site ids cannot contain a slash or start with a dot (topics.ts), so they are safe directory names.
    if (!isValidSiteId(site)) throw new TypeError(`not a site id: ${site}`);
    return join(this.root, 'sites', site);
  }

  /** Artifact first, then its manifest: a manifest on disk always has its bytes next to it. */
  async save(site: string, bytes: Uint8Array, manifest: ModelManifest): Promise<void> {
    const dir = this.siteDir(site);
    await fs.mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, `${manifest.version}${ARTIFACT_EXT}`), bytes);
    await this.saveManifest(site, manifest);
  }

  async saveManifest(site: string, manifest: ModelManifest): Promise<void> {
    await writeFileAtomic(join(this.siteDir(site), `${manifest.version}${MANIFEST_EXT}`), `${JSON.stringify(manifest, null, 1)}\n`);
  }

  /** The manifest of a version, if present and valid. */
  async loadManifest(site: string, version: string | undefined): Promise<ModelManifest | undefined> {
    if (version === undefined) return undefined;
    const text = await fs.readFile(join(this.siteDir(site), `${version}${MANIFEST_EXT}`), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const r = ModelManifestSchema.safeParse(json);
    return r.success && r.data.site === site && r.data.version === version ? r.data : undefined;
  }

  /**
   * A version's bytes and manifest, checked against each other; undefined when missing. Files that fail the check
   * are set aside as `.bad` (the caller then publishes a fresh model instead).
   */
  async load(site: string, version: string | undefined): Promise<StoredModel | undefined> {
    if (version === undefined) return undefined;
    const manifest = await this.loadManifest(site, version);
    const file = join(this.siteDir(site), `${version}${ARTIFACT_EXT}`);
    const bytes = await fs.readFile(file).catch(() => undefined);
    if (manifest === undefined || bytes === undefined) return undefined;
    if (bytes.byteLength !== manifest.size || sha256Hex(bytes) !== manifest.sha256) {
      await quarantineFile(file);
      return undefined;
    }
    return { bytes, manifest };
  }

  /** Versions of the site with an artifact file on disk (unchecked: `load` checks one). */
  async versions(site: string): Promise<string[]> {
    const names = await fs.readdir(this.siteDir(site)).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith(ARTIFACT_EXT)).map((n) => n.slice(0, -ARTIFACT_EXT.length)).sort();
  }

  /** Deletes every version of the site but `keep`. */
  async prune(site: string, keep: readonly (string | undefined)[]): Promise<void> {
    const dir = this.siteDir(site);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const kept = new Set(keep.filter((v): v is string => v !== undefined));
    for (const name of names) {
      const version = name.endsWith(ARTIFACT_EXT) ? name.slice(0, -ARTIFACT_EXT.length) : name.endsWith(MANIFEST_EXT) ? name.slice(0, -MANIFEST_EXT.length) : undefined;
      if (version !== undefined && !kept.has(version)) await fs.rm(join(dir, name), { force: true }).catch(() => undefined);
    }
  }
}
