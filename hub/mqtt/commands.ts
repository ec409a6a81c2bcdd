/**
 * Commands on `sitekd/v1/hub/cmd` (docs/protocol.md "Commands: request and response"): decode (JSON or msgpack) →
 * run → exactly one HubReply on the command's `replyTo`, with the command's `id` (the correlation id travels in the
 * payload, so this works on MQTT 3.1.1). QoS 1 may deliver a command twice: a repeated `id` from the same sender
 * (same `replyTo`) gets the cached reply and is not run again. A command that fails validation gets no reply.
 *
 * `replyTo` must lie in the reply subtree (`sitekd/v1/hub/reply/{client}`, shared/protocol/topics.ts `replyTopic`): the hub
 * publishes with its own broker rights, so a free `replyTo` would let any client aim hub messages at an agent's ack
 * topic or a model topic. A command with another `replyTo` is not run and not answered; it is counted as CMD_REPLY_TO.
 *
 * `redistill` replies as soon as the job is queued (`{jobId, state, coalesced}`); its progress and result follow as
 * JobEvents on `sitekd/v1/hub/jobs`.
 */
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import { decode, encode } from '../../shared/protocol/codec';
import { HubCommandSchema, type HubCommand, type HubReply } from '../../shared/protocol/messages';
import { parseTopic } from '../../shared/protocol/topics';
import type { DropCounter } from '../../shared/drop-counter';
import type { Logger } from '../../shared/log';

export interface CommandDeps {
  readonly publish: (topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  readonly drops: DropCounter;
  readonly maxPayloadBytes: number;
  /** Queues (or joins) a round for the site; throws SITE_UNKNOWN or JOB_REJECTED. */
  readonly redistill: (site: string) => { readonly jobId: string; readonly state: string; readonly coalesced: boolean };
  /** `status` without a site. */
  readonly hubStatus: () => Record<string, unknown>;
  /** `status` with a site; throws SITE_UNKNOWN. */
  readonly siteStatus: (site: string) => Record<string, unknown>;
  readonly sites: () => Record<string, unknown>[];
  readonly log: Logger;
  /** How many replies are remembered for repeated ids. */
  readonly cacheSize?: number;
}

export class CommandHandler {
  readonly stats = { received: 0, executed: 0, repeated: 0, replies: 0, refusedReplyTo: 0 };
  private readonly replies = new Map<string, HubReply>();

  constructor(private readonly d: CommandDeps) {}

  /** The transport's message callback. Never rejects. */
  async handle(payload: Uint8Array): Promise<void> {
    this.stats.received++;
    const r = decode(HubCommandSchema, payload, { maxBytes: this.d.maxPayloadBytes });
    if (!r.ok) return this.d.drops.record('cmd', r.error);
    const cmd = r.value;
    if (cmd.replyTo !== undefined && parseTopic(cmd.replyTo)?.kind !== 'reply') {
      this.stats.refusedReplyTo++;
      const error = new SitekdError(ErrorCode.CMD_REPLY_TO, 'replyTo is outside the reply subtree sitekd/v1/hub/reply/{client}');
      return this.d.drops.record('cmd', error, { id: cmd.id, replyTo: cmd.replyTo });
    }
    const key = `${cmd.replyTo ?? ''}\u0000${cmd.id}`;
    let reply = this.replies.get(key);
    if (reply !== undefined) {
      this.stats.repeated++;
    } else {
      reply = this.execute(cmd);
      this.remember(key, reply);
    }
    if (cmd.replyTo === undefined) return;
    try {
      await this.d.publish(cmd.replyTo, encode(reply), { qos: 1, retain: false });
      this.stats.replies++;
    } catch (err) {
      this.d.log.warn('cannot send a command reply', { id: cmd.id, replyTo: cmd.replyTo, error: err });
    }
  }

  private execute(cmd: HubCommand): HubReply {
    this.stats.executed++;
    try {
      const result = this.run(cmd);
      this.d.log.info('command', { id: cmd.id, cmd: cmd.cmd, site: cmd.site });
      return { id: cmd.id, ok: true, result };
    } catch (err) {
      const e = isSitekdError(err) ? err : new SitekdError(ErrorCode.JOB_FAILED, err instanceof Error ? err.message : String(err));
      this.d.log.info('command refused', { id: cmd.id, cmd: cmd.cmd, site: cmd.site, code: e.code });
      return { id: cmd.id, ok: false, error: { code: e.code, message: e.message.slice(0, 1000) } };
    }
  }

  private run(cmd: HubCommand): Record<string, unknown> {
    switch (cmd.cmd) {
      case 'redistill':
        return { ...this.d.redistill(cmd.site as string) };
      case 'status':
        return cmd.site === undefined ? this.d.hubStatus() : this.d.siteStatus(cmd.site);
      case 'sites':
        return { sites: this.d.sites() };
    }
  }

  private remember(key: string, reply: HubReply): void {
    this.replies.set(key, reply);
    const max = this.d.cacheSize ?? 1000;
    while (this.replies.size > max) {
      const oldest = this.replies.keys().next().value as string;
      this.replies.delete(oldest);
    }
  }
}
