/**
 * The backend names sitekd accepts, in a module that does not load tfjs: the CLI's option declarations and the
 * agent's config schema need them, and `sitekd <command> --help` must not pay for loading TensorFlow.js.
 */
import { z } from 'zod';

export const BACKEND_PREFERENCES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const BackendNameSchema = z.enum(BACKEND_PREFERENCES);
export type BackendPreference = z.infer<typeof BackendNameSchema>;
export type BackendName = Exclude<BackendPreference, 'auto'>;
