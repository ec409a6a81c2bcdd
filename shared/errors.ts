/**
 * One error class with a closed set of stable codes (house-style §3.4). Tests assert `err.code`, never the message.
 * Every code has exactly one entry in docs/errors.md; test/unit/errors.test.ts keeps both in step.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'SITEKD_ERR_CONFIG_INVALID',
  CLI_USAGE: 'SITEKD_ERR_CLI_USAGE',
  BACKEND_UNAVAILABLE: 'SITEKD_ERR_BACKEND_UNAVAILABLE',
  DATA_NOT_FOUND: 'SITEKD_ERR_DATA_NOT_FOUND',
  DATA_UNKNOWN_DOMAIN: 'SITEKD_ERR_DATA_UNKNOWN_DOMAIN',
  DATA_TRUNCATED: 'SITEKD_ERR_DATA_TRUNCATED',
  DATA_MANIFEST_INVALID: 'SITEKD_ERR_DATA_MANIFEST_INVALID',
  DATA_NONFINITE: 'SITEKD_ERR_DATA_NONFINITE',
  INPUT_SHAPE: 'SITEKD_ERR_INPUT_SHAPE',
  INPUT_NONFINITE: 'SITEKD_ERR_INPUT_NONFINITE',
  MODEL_SPEC_INVALID: 'SITEKD_ERR_MODEL_SPEC_INVALID',
  MODEL_SPEC_MISMATCH: 'SITEKD_ERR_MODEL_SPEC_MISMATCH',
  MODEL_CORRUPT: 'SITEKD_ERR_MODEL_CORRUPT',
  MODEL_CHECKSUM: 'SITEKD_ERR_MODEL_CHECKSUM',
  MODEL_LOAD: 'SITEKD_ERR_MODEL_LOAD',
  DISTILL_NONFINITE: 'SITEKD_ERR_DISTILL_NONFINITE',
  DISTILL_TOO_FEW_SAMPLES: 'SITEKD_ERR_DISTILL_TOO_FEW_SAMPLES',
  ALGORITHM_UNKNOWN: 'SITEKD_ERR_ALGORITHM_UNKNOWN',
  MODEL_WRITE: 'SITEKD_ERR_MODEL_WRITE',
  READING_INVALID: 'SITEKD_ERR_READING_INVALID',
  READING_TOO_LARGE: 'SITEKD_ERR_READING_TOO_LARGE',
  OUTBOX_FULL: 'SITEKD_ERR_OUTBOX_FULL',
  OUTBOX_CORRUPT: 'SITEKD_ERR_OUTBOX_CORRUPT',
  OUTBOX_IO: 'SITEKD_ERR_OUTBOX_IO',
  MSG_DECODE: 'SITEKD_ERR_MSG_DECODE',
  MSG_SCHEMA: 'SITEKD_ERR_MSG_SCHEMA',
  PAYLOAD_TOO_LARGE: 'SITEKD_ERR_PAYLOAD_TOO_LARGE',
  MODEL_SIGNATURE: 'SITEKD_ERR_MODEL_SIGNATURE',
  TOPIC_INVALID: 'SITEKD_ERR_TOPIC_INVALID',
  STORE_CORRUPT: 'SITEKD_ERR_STORE_CORRUPT',
  STORE_WRITE: 'SITEKD_ERR_STORE_WRITE',
  JOB_REJECTED: 'SITEKD_ERR_JOB_REJECTED',
  JOB_FAILED: 'SITEKD_ERR_JOB_FAILED',
  SCHEDULE_INVALID: 'SITEKD_ERR_SCHEDULE_INVALID',
  BROKER_UNREACHABLE: 'SITEKD_ERR_BROKER_UNREACHABLE',
  MODEL_PROBE_FAILED: 'SITEKD_ERR_MODEL_PROBE_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SitekdError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SitekdError';
    this.code = code;
    this.details = opts.details;
  }
}

export function isSitekdError(err: unknown, code?: ErrorCode): err is SitekdError {
  return err instanceof SitekdError && (code === undefined || err.code === code);
}
