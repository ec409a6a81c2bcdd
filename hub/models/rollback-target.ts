/**
 * Which version a rollback goes back to (pure: the site's history and kept files in, a version or a coded error out).
 * The hub's ModelPublisher asks it inside the site's publication queue, so the answer cannot go stale before the
 * rollback is published.
 *
 * A version counts as one the site served when its model history records it, or when the hub still keeps its
 * artifact: the publisher only ever saves what it publishes, and a registry written before histories existed names
 * only the current version.
 */
import { ErrorCode, SitekdError } from '../../shared/errors';
import { rolledBackFrom, servedBefore, type ModelRecord } from '../sites/model-history';
import { versionNumber } from './versioning';

export interface RollbackTargetInput {
  readonly site: string;
  /** The version the site serves now. */
  readonly current: string | undefined;
  /** `--to`, if given. */
  readonly requested: string | undefined;
  readonly history: readonly ModelRecord[];
  /** Versions whose artifact the hub keeps for the site. */
  readonly kept: readonly string[];
}

/** The version to publish again. Throws MODEL_VERSION_UNKNOWN or ROLLBACK_TO_CURRENT. */
export function chooseRollbackTarget(i: RollbackTargetInput): string {
  const served = new Set([...i.history.map((r) => r.version), ...i.kept]);
  if (i.requested !== undefined) {
    if (i.requested === i.current) {
      throw new SitekdError(ErrorCode.ROLLBACK_TO_CURRENT, `site ${i.site} serves ${i.requested} already`, { details: { site: i.site, version: i.requested } });
    }
    if (!served.has(i.requested)) {
      throw new SitekdError(ErrorCode.MODEL_VERSION_UNKNOWN, `site ${i.site} never served ${i.requested}`, { details: { site: i.site, version: i.requested } });
    }
    return i.requested;
  }
  const before = servedBefore(i.history, i.current) ?? newestKeptBelow(i);
  if (before === undefined) {
    throw new SitekdError(ErrorCode.MODEL_VERSION_UNKNOWN, `site ${i.site} served no version before ${i.current ?? 'none'} to go back to`, { details: { site: i.site, current: i.current } });
  }
  return before;
}

/** Without a history (an older registry): the kept version with the highest number below the current one. */
function newestKeptBelow(i: RollbackTargetInput): string | undefined {
  const bad = rolledBackFrom(i.history);
  const n = versionNumber(i.current);
  return i.kept
    .filter((v) => v !== i.current && !bad.has(v) && versionNumber(v) > 0 && versionNumber(v) < n)
    .sort((a, b) => versionNumber(b) - versionNumber(a))[0];
}
