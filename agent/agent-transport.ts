/**
 * The part of the MQTT transport the agent uses. `MqttTransport` (shared/transport) satisfies it; it is an interface
 * so that components take it as a dependency and `agent/main.ts` stays the only place that creates a client.
 */
export type Handler = (topic: string, payload: Buffer) => void | Promise<void>;

export interface AgentTransport {
  readonly connected: boolean;
  /** Largest outbound packet allowed (the broker's announced limit, else our cap). */
  readonly maxPacketBytes: number;
  publish(topic: string, payload: Uint8Array, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  subscribe(filter: string, handler: Handler, qos?: 0 | 1): Promise<void>;
  unsubscribe(filter: string): Promise<void>;
  on(event: 'connect' | 'close' | 'offline' | 'reconnect', fn: () => void): void;
  close(force?: boolean): Promise<void>;
}

/** What a message the agent refused came on: the kinds its DropCounter counts by. */
export type InboundKind = 'sensor' | 'manifest' | 'chunk' | 'ack';
