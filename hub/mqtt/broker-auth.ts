/**
 * Authentication, authorization and limits of the embedded broker, as aedes hooks (authenticate, authorizePublish,
 * authorizeSubscribe, authorizeForward). The policy is hub/auth/policy.ts, the identities come
 * from the credentials store (hub/auth/credentials-file.ts), re-read when the file changes, so `sitekd credentials
 * add|remove` takes effect on a running hub; sessions of a removed or changed identity are closed.
 *
 * - A CONNECT needs a known user name and its password, and its client id must be exactly the user name: one
 *   session per identity, and nobody can take over another identity's session (Mosquitto does the same with
 *   `use_username_as_clientid true`, deploy/mosquitto/). The identity may replace its own stale session.
 * - A publish outside the identity's write grants closes the connection (MQTT 3.1.1 has no negative PUBACK); a
 *   subscription outside its read grants is refused in the SUBACK (0x80) and the session goes on.
 * - Limits: sessions, subscriptions per client, retained bytes in total and per non-hub identity. The packet size is
 *   enforced on the socket (hub/mqtt/packet-guard.ts).
 * With `anonymous` every client is let in and every topic is open, as before issue 8; the limits still apply.
 */
import * as fs from 'node:fs';
import type { Logger } from '../../shared/log';
import { readCredentials, type UserRecord } from '../auth/credentials-file';
import { identityOf } from '../auth/credentials';
import { PasswordVerifier } from '../auth/passwords';
import { grantsFor, mayPublish, mayReceive, maySubscribe, type Grant } from '../auth/policy';
import { BrokerLimitTracker, type BrokerLimits } from './broker-limits';

/** The part of an aedes client these hooks use. */
export interface AedesClient {
  readonly id: string;
  close(cb?: () => void): void;
}
interface PublishPacket {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly retain?: boolean;
}
type AuthError = Error & { returnCode: number };

/** CONNACK return codes of MQTT 3.1.1 (§3.2.2.3). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USER_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** Concurrent scrypt checks: a CONNECT flood with wrong passwords costs at most this many thread-pool slots. */
const MAX_PENDING_AUTH = 8;

export interface BrokerAuthStats {
  refusedConnect: number;
  refusedPublish: number;
  refusedSubscribe: number;
  droppedDeliveries: number;
}

interface Session {
  readonly user: string | undefined;
  readonly grants: readonly Grant[] | undefined;
  readonly record: string | undefined;
}

export class BrokerAuth {
  readonly stats: BrokerAuthStats = { refusedConnect: 0, refusedPublish: 0, refusedSubscribe: 0, droppedDeliveries: 0 };
  readonly limits: BrokerLimitTracker;
  private users = new Map<string, UserRecord>();
  private fileStamp = '';
  private readonly sessions = new WeakMap<AedesClient, Session>();
  private readonly live = new Set<AedesClient>();
  /** sha256 of passwords already checked against the current record (key: user + salt): reconnects skip scrypt. */
  private readonly passwords = new PasswordVerifier({ maxPending: MAX_PENDING_AUTH, maxRemembered: 10_000 });
  private readonly lastWarned = new Map<string, number>();

  /** `credentialsFile` undefined = anonymous broker. */
  constructor(private readonly o: { credentialsFile: string | undefined; limits: BrokerLimits; log: Logger; hubUser?: string }) {
    this.limits = new BrokerLimitTracker(o.limits, o.hubUser);
    if (o.credentialsFile !== undefined) this.refresh();
  }

  get anonymous(): boolean {
    return this.o.credentialsFile === undefined;
  }

  /** Re-reads the credentials file if it changed; closes sessions whose identity was removed or changed. */
  refresh(): void {
    const file = this.o.credentialsFile;
    if (file === undefined) return;
    const st = fs.statSync(file, { throwIfNoEntry: false });
    const stamp = st === undefined ? 'none' : `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (stamp === this.fileStamp) return;
    try {
      const users = new Map(readCredentials(file).users.map((u) => [u.user, u]));
      this.fileStamp = stamp;
      this.users = users;
    } catch (err) {
      this.warn('credentials', 'cannot reload the credentials file; keeping the identities loaded before', { error: err });
      return;
    }
    for (const client of this.live) {
      const s = this.sessions.get(client);
      if (s?.user === undefined) continue;
      const now = this.users.get(s.user);
      if (now === undefined || JSON.stringify(now) !== s.record) {
        this.o.log.warn('closing a session: its credentials were removed or changed', { user: s.user });
        client.close();
      }
    }
  }

  /** True when an agent credential names `site`: only those sites may be auto-enrolled (anonymous: any). */
  enrollable(site: string): boolean {
    if (this.anonymous) return true;
    this.refresh();
    for (const u of this.users.values()) if (u.role === 'agent' && u.site === site) return true;
    return false;
  }

  /** The aedes options: spread into Aedes.createBroker(). */
  hooks(connectedClients: () => number): Record<string, unknown> {
    return {
      authenticate: (client: AedesClient, username: string | undefined, password: Buffer | undefined, cb: (err: AuthError | null, ok: boolean | null) => void) => {
        // Checked here, not in preConnect: only a refusal from authenticate reaches the client as a CONNACK code.
        const full = connectedClients() >= this.o.limits.maxConnections;
        (full ? Promise.reject(authError('the broker is at its session limit', SERVER_UNAVAILABLE)) : this.authenticate(client, username, password)).then(
          () => cb(null, true),
          (err: AuthError) => {
            this.stats.refusedConnect++;
            this.warn(`connect:${username ?? ''}`, 'refused a connection', { clientId: client.id, user: username ?? null, reason: err.message });
            cb(err, false);
          },
        );
      },
      authorizePublish: (client: AedesClient | null, packet: PublishPacket, cb: (err?: Error | null) => void) => cb(this.authorizePublish(client, packet)),
      authorizeSubscribe: (client: AedesClient, sub: { topic: string }, cb: (err: Error | null, sub: unknown) => void) => cb(null, this.authorizeSubscribe(client, sub.topic) ? sub : null),
      authorizeForward: (client: AedesClient, packet: PublishPacket) => {
        const grants = this.sessions.get(client)?.grants;
        if (grants === undefined || mayReceive(grants, packet.topic)) return packet;
        this.stats.droppedDeliveries++;
        return null;
      },
    };
  }

  clientGone(client: AedesClient): void {
    this.live.delete(client);
    this.limits.clientGone(client);
  }

  unsubscribed(client: AedesClient, filters: readonly string[]): void {
    this.limits.unsubscribed(client, filters);
  }

  private async authenticate(client: AedesClient, username: string | undefined, password: Buffer | undefined): Promise<void> {
    if (this.anonymous) {
      this.track(client, { user: username, grants: undefined, record: undefined });
      return;
    }
    this.refresh();
    const user = username === undefined ? undefined : this.users.get(username);
    if (username === undefined || password === undefined) throw authError('a user name and password are required', NOT_AUTHORIZED);
    if (user === undefined) throw authError(`unknown user ${username}`, BAD_USER_OR_PASSWORD);
    if (!(await this.checkPassword(user, password))) throw authError(`wrong password for ${username}`, BAD_USER_OR_PASSWORD);
    if (client.id !== username) throw authError(`client id ${client.id} is not the user name ${username}`, IDENTIFIER_REJECTED);
    // The file may have changed while scrypt ran: authorize against what is current now.
    const current = this.users.get(username);
    if (current === undefined) throw authError(`unknown user ${username}`, BAD_USER_OR_PASSWORD);
    this.track(client, { user: username, grants: grantsFor(identityOf(current)), record: JSON.stringify(current) });
  }

  private track(client: AedesClient, s: Session): void {
    this.sessions.set(client, s);
    this.live.add(client);
  }

  private async checkPassword(u: UserRecord, password: Buffer): Promise<boolean> {
    const ok = await this.passwords.check(u.user, u.password, password);
    if (ok === 'busy') throw authError('too many logins in progress', SERVER_UNAVAILABLE);
    return ok;
  }


  private authorizePublish(client: AedesClient | null, packet: PublishPacket): Error | null {
    if (client === null) return null; // the broker's own messages ($SYS heartbeats)
    const s = this.sessions.get(client);
    if (s === undefined) return new Error('not authenticated');
    if (s.grants !== undefined && !mayPublish(s.grants, packet.topic)) {
      this.stats.refusedPublish++;
      this.warn(`publish:${s.user ?? ''}`, 'refused a publish outside the client\'s grants; closing its connection', { user: s.user, topic: packet.topic.slice(0, 200) });
      return new Error(`${s.user} may not publish to ${packet.topic}`);
    }
    const problem = packet.retain === true ? this.limits.retain(client, s.user ?? client.id, packet.topic, byteLength(packet.payload)) : undefined;
    if (problem !== undefined) {
      this.stats.refusedPublish++;
      this.warn(`retain:${s.user ?? client.id}`, 'refused a retained publish over the retained-bytes limit; closing its connection', { user: s.user ?? client.id, topic: packet.topic.slice(0, 200), problem });
      return new Error(problem);
    }
    return null;
  }

  private authorizeSubscribe(client: AedesClient, filter: string): boolean {
    const s = this.sessions.get(client);
    const allowed = s !== undefined && (s.grants === undefined || maySubscribe(s.grants, filter)) && this.limits.subscribe(client, filter, s.user);
    if (!allowed) {
      this.stats.refusedSubscribe++;
      this.warn(`subscribe:${s?.user ?? ''}`, 'refused a subscription', { user: s?.user ?? null, filter: filter.slice(0, 200) });
    }
    return allowed;
  }

  /** At most one warning per key and 10 s: a hostile client must not flood the log. */
  private warn(key: string, msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if ((this.lastWarned.get(key) ?? -Infinity) > now - 10_000) return;
    if (this.lastWarned.size > 1000) this.lastWarned.clear();
    this.lastWarned.set(key, now);
    this.o.log.warn(msg, fields);
  }
}

function authError(message: string, returnCode: number): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

function byteLength(p: Buffer | string): number {
  return typeof p === 'string' ? Buffer.byteLength(p) : p.length;
}
