/**
 * The outcome of handling untrusted input (docs/conventions.md §3): returned, never thrown, so nothing escapes an MQTT
 * message callback. The error always carries a stable code.
 */
import type { SitekdError } from '../errors';

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: SitekdError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(error: SitekdError): Result<T> {
  return { ok: false, error };
}
