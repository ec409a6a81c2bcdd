/**
 * The hub watches its own retained model topics and restores them. A retained manifest or chunk that someone else
 * deleted (an empty retained publish) or replaced stalls every agent that connects later; the hub subscribes to
 * `{site}/model` and `{site}/model/+/chunk/+` of the sites it serves, remembers what it last saw there, and when that
 * differs from what it published (another signature, a missing or damaged chunk of the current version) it republishes
 * the site's model from disk. The check runs `settleMs` after the last change seen, so its own publications (which
 * come back to it, sometimes before its bookkeeping is done) never trigger a republish; a site is restored at most
 * once per `settleMs`.
 */
import type { Clock, TimerHandle } from '../../shared/clock';
import type { Logger } from '../../shared/log';
import { sha256Hex } from '../../shared/protocol/chunks';
import { decode } from '../../shared/protocol/codec';
import { ModelManifestSchema, type ModelManifest } from '../../shared/protocol/messages';
import { parseTopic } from '../../shared/protocol/topics';

export interface RetainedGuardDeps {
  readonly manifest: (site: string) => ModelManifest | undefined;
  readonly republish: (site: string) => Promise<unknown>;
  readonly servesSite: (site: string) => boolean;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settleMs?: number;
}

interface Seen {
  /** Signature of the retained manifest last seen; '' when it was deleted or is not a manifest. */
  manifest: string | undefined;
  /** Chunk indices of the current version last seen deleted or not matching the manifest. */
  readonly badChunks: Map<string, Set<number>>;
  timer: TimerHandle | undefined;
}

export class RetainedGuard {
  /** Republishes done because a retained model topic had changed. */
  restored = 0;
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly d: RetainedGuardDeps) {}

  /** Handler for `{site}/model` and `{site}/model/{version}/chunk/{i}`. Never throws. */
  handle(topic: string, payload: Uint8Array): void {
    const t = parseTopic(topic);
    if (t === undefined || (t.kind !== 'model' && t.kind !== 'modelChunk') || !this.d.servesSite(t.site)) return;
    const s = this.state(t.site);
    if (t.kind === 'model') {
      const r = payload.byteLength === 0 ? undefined : decode(ModelManifestSchema, payload);
      s.manifest = r?.ok === true ? r.value.signature : '';
    } else {
      const bad = s.badChunks.get(t.version) ?? new Set<number>();
      const ours = this.d.manifest(t.site);
      const fine = payload.byteLength > 0 && (ours?.version !== t.version || sha256Hex(payload) === ours.chunkSha256[t.index]);
      if (fine) bad.delete(t.index);
      else bad.add(t.index);
      s.badChunks.set(t.version, bad);
    }
    s.timer?.cancel();
    s.timer = this.d.clock.after(this.d.settleMs ?? 2000, () => this.check(t.site));
  }

  stop(): void {
    for (const s of this.seen.values()) s.timer?.cancel();
  }

  private state(site: string): Seen {
    let s = this.seen.get(site);
    if (s === undefined) {
      s = { manifest: undefined, badChunks: new Map(), timer: undefined };
      this.seen.set(site, s);
    }
    return s;
  }

  private check(site: string): void {
    const s = this.state(site);
    s.timer = undefined;
    const ours = this.d.manifest(site);
    if (ours === undefined) return; // not published by this process yet: the start-up path publishes it
    const bad = [...(s.badChunks.get(ours.version) ?? [])].filter((i) => i < ours.chunks);
    const manifestChanged = s.manifest !== undefined && s.manifest !== ours.signature;
    if (!manifestChanged && bad.length === 0) return;
    this.restored++;
    this.d.log.warn('a retained model topic was changed by another client; restoring it', {
      site, version: ours.version, manifest: manifestChanged ? (s.manifest === '' ? 'deleted or not a manifest' : 'replaced') : 'intact', chunks: bad,
    });
    s.manifest = undefined;
    s.badChunks.clear();
    this.d.republish(site).catch((err: unknown) => this.d.log.error('restoring the retained model failed', { site, error: err }));
  }
}
