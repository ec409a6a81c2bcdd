/**
 * Who may change the fleet over HTTP (the dashboard's redistill button): an **operator** identity of the hub's
 * credentials store (hub/auth/), sent as HTTP Basic credentials and checked the way the embedded broker checks a
 * CONNECT (hub/mqtt/broker-auth.ts): the scrypt hash of the store, re-read on every request so `sitekd credentials
 * add|remove` takes effect at once, with a digest cache so a page that clicks twice does not pay scrypt twice, and
 * a cap on concurrent scrypt checks so a flood of wrong passwords cannot take the thread pool.
 *
 * With `credentialsFile` undefined (the hub runs `--allow-anonymous`) anyone may: the broker then accepts the same
 * command from anyone too, so refusing it here would protect nothing.
 */
import { readCredentials } from '../auth/credentials-file';
import { PasswordVerifier, type ScryptHash } from '../auth/passwords';

const MAX_PENDING = 4;

export type AuthVerdict =
  | { readonly ok: true; readonly user: string | undefined }
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

export class OperatorAuth {
  private readonly passwords = new PasswordVerifier({ maxPending: MAX_PENDING, maxRemembered: 1000 });

  /** `credentialsFile` undefined = anonymous hub: every request is allowed. */
  constructor(private readonly credentialsFile: string | undefined) {}

  get required(): boolean {
    return this.credentialsFile !== undefined;
  }

  /** Checks an `Authorization` header. */
  async check(header: string | undefined): Promise<AuthVerdict> {
    if (this.credentialsFile === undefined) return { ok: true, user: undefined };
    const basic = parseBasic(header);
    if (basic === undefined) return { ok: false, status: 401, reason: 'operator credentials required (HTTP Basic)' };
    const record = readCredentials(this.credentialsFile).users.find((u) => u.user === basic.user);
    if (record === undefined || !(await this.passwordMatches(record.user, record.password, basic.password))) {
      return { ok: false, status: 401, reason: 'unknown user or wrong password' };
    }
    if (record.role !== 'operator') return { ok: false, status: 403, reason: `${record.user} has the role ${record.role}, not operator` };
    return { ok: true, user: record.user };
  }

  private async passwordMatches(user: string, hash: ScryptHash, password: string): Promise<boolean> {
    return (await this.passwords.check(user, hash, password)) === true;
  }

}

/** `Basic base64(user:password)` → its parts; undefined for anything else. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]{1,2800})$/i.exec(header?.trim() ?? '');
  if (m === null) return undefined;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
