/**
 * Run-time backend choice: `tensorflow` (native, when the optional @tensorflow/tfjs-node loads) → `wasm` → `cpu`.
 * tfjs-node cannot install on machines without access to its binary download, so it is an optionalDependency and
 * is only ever loaded here, lazily (docs/backends.md §3).
 */
import { ErrorCode, SitekdError } from '../errors';
import type { BackendName, BackendPreference } from './backend-names';
import { tf } from './tf';

export { BackendNameSchema, type BackendName, type BackendPreference } from './backend-names';

export interface BackendChoice {
  readonly name: BackendName;
  /** Why the preferred backends before it were skipped (empty when the first choice worked). */
  readonly skipped: readonly string[];
}

async function tryBackend(name: BackendName): Promise<string | null> {
  try {
    if (name === 'tensorflow') require('@tensorflow/tfjs-node');
    if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    const ok = await tf.setBackend(name);
    if (!ok) return `${name}: setBackend returned false`;
    await tf.ready();
    return null;
  } catch (err) {
    return `${name}: ${(err as Error).message.split('\n')[0]}`;
  }
}

let current: BackendChoice | undefined;

export async function selectBackend(pref: BackendPreference = 'auto'): Promise<BackendChoice> {
  // The remembered choice only counts while tfjs is still on it (tf.setBackend elsewhere switches behind our back).
  if (current !== undefined && tf.getBackend() === current.name && (pref === 'auto' || pref === current.name)) return current;
  const order: BackendName[] = pref === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [pref];
  const skipped: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === null) {
      current = { name, skipped };
      return current;
    }
    skipped.push(why);
  }
  throw new SitekdError(ErrorCode.BACKEND_UNAVAILABLE, `no usable backend: ${skipped.join('; ')}`, { details: { skipped } });
}

export function currentBackend(): string {
  return tf.getBackend();
}
