/**
 * Password handling for the embedded broker and for an external Mosquitto:
 * - scrypt (node:crypto) for the hub's own store: memory-hard, so a stolen credentials file is costly to brute-force;
 * - Mosquitto's `$7$` PBKDF2-SHA512 line (mosquitto_passwd's default since 2.0) so the same password works on
 *   Mosquitto. That hash can only be made while the password is known, so `credentials add` stores it beside the
 *   scrypt hash and `credentials export` writes it out later.
 * Generated passwords are 24 random bytes in base64url: no character a shell, a URL or a config file mangles.
 */
import { createHash, pbkdf2Sync, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** scrypt cost: N = 2^14, r = 8 (16 MiB, ~40 ms here): once per CONNECT, and the result is cached per session. */
const SCRYPT = { N: 16_384, r: 8, p: 1, keyLen: 32, maxmem: 64 * 1024 * 1024 } as const;
/**
 * PBKDF2 iterations of the Mosquitto line. mosquitto_passwd 2.0 writes 101; Mosquitto reads the count from the line,
 * and a higher one makes the copy in our store as hard to attack as Mosquitto's CONNECT cost allows.
 */
export const MOSQUITTO_ITERATIONS = 10_000;

const B64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).max(200);

export const ScryptHashSchema = z.strictObject({
  alg: z.literal('scrypt'),
  N: z.number().int().min(1024).max(1 << 20),
  r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16),
  salt: B64,
  hash: B64,
});
export type ScryptHash = z.infer<typeof ScryptHashSchema>;

/** `$7$<iterations>$<salt b64>$<digest b64>` as Mosquitto 2.0 reads it. */
export const MOSQUITTO_HASH = /^\$7\$[1-9][0-9]{0,7}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

export function hashPassword(password: string): ScryptHash {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem });
  return { alg: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** Constant-time check, off the event loop (scrypt runs in libuv's thread pool). */
export function verifyPassword(password: Buffer | string, h: ScryptHash): Promise<boolean> {
  const expected = Buffer.from(h.hash, 'base64');
  return new Promise((resolve) => {
    scrypt(password, Buffer.from(h.salt, 'base64'), expected.length, { N: h.N, r: h.r, p: h.p, maxmem: SCRYPT.maxmem }, (err, got) => {
      resolve(err === null && got.length === expected.length && timingSafeEqual(got, expected));
    });
  });
}

export function mosquittoHash(password: string, iterations = MOSQUITTO_ITERATIONS, salt: Buffer = randomBytes(12)): string {
  const digest = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${digest.toString('base64')}`;
}

/**
 * `verifyPassword` for logins that repeat (agents reconnecting, a browser sending Basic credentials with every
 * request): a password that verified once for a user and salt is remembered as its sha256 and compared in constant
 * time, so scrypt runs once, not per login; at most `maxPending` scrypt checks run at once ('busy' beyond that, so a
 * flood of logins cannot exhaust memory or the thread pool), and the memo is cleared past `maxRemembered` entries.
 */
export class PasswordVerifier {
  private readonly verified = new Map<string, Buffer>();
  private pending = 0;

  constructor(private readonly o: { readonly maxPending: number; readonly maxRemembered: number }) {}

  async check(user: string, h: ScryptHash, password: Buffer | string): Promise<boolean | 'busy'> {
    const key = `${user}\u0000${h.salt}`;
    const digest = createHash('sha256').update(password).digest();
    const known = this.verified.get(key);
    if (known !== undefined) return timingSafeEqual(known, digest);
    if (this.pending >= this.o.maxPending) return 'busy';
    this.pending++;
    try {
      const ok = await verifyPassword(password, h);
      if (ok) {
        if (this.verified.size > this.o.maxRemembered) this.verified.clear();
        this.verified.set(key, digest);
      }
      return ok;
    } finally {
      this.pending--;
    }
  }
}
