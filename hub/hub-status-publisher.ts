/**
 * Publication of the hub's retained status topic (`hub/status`, or `hub/<id>/status` for one of several hubs): on
 * demand, every status interval, and once after a burst of changes; and `offline` as the hub's last word on stop.
 * Kept apart from hub/hub.ts (the lifecycle) and hub/hub-status.ts (the payloads): it only decides when to send.
 */
import { withTimeout, type Clock, type TimerHandle } from '../shared/clock';
import type { Logger } from '../shared/log';
import { encodeJson } from '../shared/protocol/codec';
import type { HubStatus } from '../shared/protocol/messages';
import { hubMemberStatusTopic, hubStatusTopic } from '../shared/protocol/topics';
import type { MqttTransport } from '../shared/transport/mqtt-transport';

export interface StatusPublisherOptions {
  readonly clock: Clock;
  readonly log: Logger;
  readonly hubId: string | undefined;
  /** The connection, once there is one. */
  transport(): MqttTransport | undefined;
  /** False once the hub is stopping: only the `offline` message goes out then. */
  live(): boolean;
  payload(): HubStatus;
}

export class StatusPublisher {
  private timer: TimerHandle | undefined;
  private debounce: TimerHandle | undefined;
  private readonly topic: string;

  constructor(private readonly o: StatusPublisherOptions) {
    this.topic = o.hubId === undefined ? hubStatusTopic() : hubMemberStatusTopic(o.hubId);
  }

  /** Publishes every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.timer = this.o.clock.every(intervalMs, () => this.publish());
  }

  publish(): void {
    const transport = this.o.transport();
    if (transport === undefined || !this.o.live()) return;
    transport.publish(this.topic, encodeJson(this.o.payload()), { qos: 1, retain: true }).catch((err: unknown) => this.o.log.warn('cannot publish hub status', { error: err }));
  }

  /** Coalesces bursts of changes into one status message. */
  schedule(): void {
    if (this.debounce !== undefined) return;
    this.debounce = this.o.clock.after(250, () => {
      this.debounce = undefined;
      this.publish();
    });
  }

  stop(): void {
    this.timer?.cancel();
    this.debounce?.cancel();
  }

  /** The retained `offline` status; waits at most 2 s, as the broker may be gone. */
  async offline(now: number): Promise<void> {
    const transport = this.o.transport();
    if (transport === undefined) return;
    const offline: HubStatus = { state: 'offline', ts: now };
    await withTimeout(this.o.clock, transport.publish(this.topic, encodeJson(offline), { qos: 1, retain: true }), 2000).catch(() => undefined);
  }
}
