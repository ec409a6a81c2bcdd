/**
 * Resource limits of the embedded broker that aedes does not have: retained bytes (in total, and per identity other
 * than the hub, so one agent cannot fill the budget the hub's retained models need) and subscriptions per client.
 * Sessions are capped in broker-auth.ts (authenticate), packet sizes on the socket (packet-guard.ts).
 */
export interface BrokerLimits {
  /** Largest MQTT packet a client may send, header included. */
  readonly maxPacketBytes: number;
  /** MQTT sessions at once. */
  readonly maxConnections: number;
  /** Retained payload bytes the broker holds in total. */
  readonly maxRetainedBytes: number;
  /** Retained payload bytes one identity other than the hub may hold. */
  readonly maxRetainedBytesPerClient: number;
  /** Subscriptions one client (other than the hub) may hold. */
  readonly maxSubscriptionsPerClient: number;
}

export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  maxPacketBytes: 256 * 1024,
  maxConnections: 1024,
  maxRetainedBytes: 256 * 1024 * 1024,
  maxRetainedBytesPerClient: 1024 * 1024,
  maxSubscriptionsPerClient: 128,
};

type Client = object;

export class BrokerLimitTracker {
  /** topic → retained bytes and the identity that retained them. */
  private readonly retained = new Map<string, { bytes: number; owner: string }>();
  private readonly byOwner = new Map<string, number>();
  private total = 0;
  private readonly subs = new WeakMap<Client, Set<string>>();

  constructor(private readonly l: BrokerLimits, private readonly hubUser: string | undefined) {}

  get retainedBytes(): number {
    return this.total;
  }

  /**
   * Accounts a retained publish of `bytes` to `topic` by `owner` (0 bytes deletes the retained message). Returns why
   * it is refused, or undefined when it fits (and is then counted).
   */
  retain(client: Client, owner: string, topic: string, bytes: number): string | undefined {
    void client;
    const old = this.retained.get(topic);
    const total = this.total - (old?.bytes ?? 0) + bytes;
    const mine = (this.byOwner.get(owner) ?? 0) - (old?.owner === owner ? old.bytes : 0) + bytes;
    if (bytes > 0 && total > this.l.maxRetainedBytes) return `retained messages would hold ${total} bytes, over the broker's ${this.l.maxRetainedBytes}`;
    if (bytes > 0 && owner !== this.hubUser && mine > this.l.maxRetainedBytesPerClient) {
      return `${owner}'s retained messages would hold ${mine} bytes, over the ${this.l.maxRetainedBytesPerClient} each client may`;
    }
    if (old !== undefined) this.byOwner.set(old.owner, (this.byOwner.get(old.owner) ?? 0) - old.bytes);
    this.total = total;
    if (bytes === 0) this.retained.delete(topic);
    else {
      this.retained.set(topic, { bytes, owner });
      this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + bytes);
    }
    return undefined;
  }

  /** True when the client may add `filter` (the hub is not limited: it subscribes to a handful of wildcards). */
  subscribe(client: Client, filter: string, user: string | undefined): boolean {
    let set = this.subs.get(client);
    if (set === undefined) this.subs.set(client, (set = new Set()));
    if (!set.has(filter) && user !== this.hubUser && set.size >= this.l.maxSubscriptionsPerClient) return false;
    set.add(filter);
    return true;
  }

  unsubscribed(client: Client, filters: readonly string[]): void {
    const set = this.subs.get(client);
    for (const f of filters) set?.delete(f);
  }

  clientGone(client: Client): void {
    this.subs.delete(client);
  }
}
