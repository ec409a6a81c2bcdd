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
 * JobEvents on `sitekd/v1/hub/jobs`. `rollback` replies once the rollback is published, with what was published; a
 * repeat of its id arriving meanwhile waits for the same reply (the reply is remembered from the start, not the end,
 * so a redelivered command can never roll a site back twice).
 */
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import { decode, encode, encodeJson, isJsonPayload } from '../../shared/protocol/codec';
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
  /** Publishes an earlier version of the site again; rejects with SITE_UNKNOWN, MODEL_VERSION_UNKNOWN, … */
  readonly rollback: (site: string, req: { readonly to?: string | undefined; readonly reason?: string | undefined }) => Promise<Record<string, unknown>>;
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
  private readonly replies = new Map<string, Promise<HubReply>>();

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
    let pending = this.replies.get(key);
    if (pending !== undefined) {
      this.stats.repeated++;
    } else {
      pending = this.execute(cmd);
      this.remember(key, pending);
    }
    const reply = await pending;
    if (cmd.replyTo === undefined) return;
    try {
      // A reply in the format of its command: `mosquitto_pub -m '{…}'` gets text back.
      await this.d.publish(cmd.replyTo, isJsonPayload(payload) ? encodeJson(reply) : encode(reply), { qos: 1, retain: false });
      this.stats.replies++;
    } catch (err) {
      this.d.log.warn('cannot send a command reply', { id: cmd.id, replyTo: cmd.replyTo, error: err });
    }
  }

  private async execute(cmd: HubCommand): Promise<HubReply> {
    this.stats.executed++;
    try {
      const result = await this.run(cmd);
      this.d.log.info('command', { id: cmd.id, cmd: cmd.cmd, site: cmd.site });
      return { id: cmd.id, ok: true, result };
    } catch (err) {
      const e = isSitekdError(err) ? err : new SitekdError(ErrorCode.JOB_FAILED, err instanceof Error ? err.message : String(err));
      this.d.log.info('command refused', { id: cmd.id, cmd: cmd.cmd, site: cmd.site, code: e.code });
      return { id: cmd.id, ok: false, error: { code: e.code, message: e.message.slice(0, 1000) } };
    }
  }

  private async run(cmd: HubCommand): Promise<Record<string, unknown>> {
    switch (cmd.cmd) {
      case 'redistill':
        return { ...this.d.redistill(cmd.site as string) };
      case 'rollback':
        return await this.d.rollback(cmd.site as string, { to: cmd.to, reason: cmd.reason });
      case 'status':
        return cmd.site === undefined ? this.d.hubStatus() : this.d.siteStatus(cmd.site);
      case 'sites':
        return { sites: this.d.sites() };
    }
  }

  private remember(key: string, reply: Promise<HubReply>): void {
    this.replies.set(key, reply);
    const max = this.d.cacheSize ?? 1000;
    while (this.replies.size > max) {
      const oldest = this.replies.keys().next().value as string;
      this.replies.delete(oldest);
    }
  }
}
