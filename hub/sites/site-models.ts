/**
 * Makes sure every site the hub serves has a model on the broker: its current version republished from disk, or —
 * for a new site, or when the files are gone — the generic student as its next version. One attempt per site at a
 * time (two births of the same new site must not publish two versions).
 */
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import type { ModelPublisher } from '../models/model-publisher';
import type { TeacherBundle } from '../models/teacher';

export interface SiteModelsDeps {
  readonly publisher: ModelPublisher;
  readonly teacher: () => Promise<TeacherBundle>;
  readonly isStopping: () => boolean;
  readonly onPublished: (site: string) => void;
  readonly log: Logger;
}

export class SiteModels {
  private readonly ensuring = new Map<string, Promise<void>>();

  constructor(private readonly d: SiteModelsDeps) {}

  /** Whether this process already put the site's model on the broker. */
  has(site: string): boolean {
    return this.d.publisher.manifest(site) !== undefined;
  }

  /** Publishes the site's model unless done already. Never rejects (failures are logged). */
  ensure(site: string): Promise<void> {
    const running = this.ensuring.get(site);
    if (running !== undefined) return running;
    const p = (async () => {
      const bundle = await this.d.teacher();
      if (this.has(site) || this.d.isStopping()) return;
      const republished = await this.d.publisher.republish(site);
      if (republished === undefined) {
        await this.d.publisher.publish(site, bundle.generic.bytes, { algorithm: 'kd', metrics: {}, teacherVersion: bundle.teacher.version });
      }
      this.d.onPublished(site);
    })()
      .catch((err: unknown) => {
        if (!isSitekdError(err, ErrorCode.JOB_REJECTED)) this.d.log.error('cannot publish a model', { site, error: err });
      })
      .finally(() => this.ensuring.delete(site));
    this.ensuring.set(site, p);
    return p;
  }

  /** After a reconnect: the broker may have lost its retained messages (e.g. a Mosquitto without persistence). */
  republishAll(sites: readonly string[]): void {
    for (const site of sites) {
      if (!this.has(site)) void this.ensure(site);
      else void this.d.publisher.republish(site).catch((err: unknown) => this.d.log.error('republish failed', { site, error: err }));
    }
  }

  /** Resolves when no publication started here is still running. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.ensuring.values()]);
  }
}
