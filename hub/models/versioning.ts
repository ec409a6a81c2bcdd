/**
 * Model versions of a site: `<n>-<sha8>`, where n only grows per site (1 = the generic student, then one more per
 * published redistillation) and sha8 is the first 8 hex digits of the candidate's content hash, so two hubs or two
 * rounds never produce the same name for different weights. A version is a topic level (`{site}/model/{version}/…`),
 * so it must be a valid id; the site registry persists the current one, which makes n survive restarts.
 */
import { ID_PATTERN } from '../../shared/protocol/topics';

const VERSION_PATTERN = /^([1-9][0-9]{0,14})-([0-9a-f]{8})$/;

/** The sequence number of a version made by `nextVersion`, or 0 for anything else (absent, foreign naming). */
export function versionNumber(version: string | undefined): number {
  const m = version === undefined ? null : VERSION_PATTERN.exec(version);
  return m === null ? 0 : Number(m[1]);
}

/**
 * The version after `current` for content with this sha256 (hex). `highest` is the highest number the site ever had:
 * after a rollback the current version's number is lower, and the next version must not reuse a rolled-back number
 * (two different models would then share one number, and an agent that saw the first could not tell them apart).
 */
export function nextVersion(current: string | undefined, contentSha256: string, highest = 0): string {
  if (!/^[0-9a-f]{8,}$/.test(contentSha256)) throw new TypeError(`not a hex sha256: ${contentSha256}`);
  const v = `${Math.max(versionNumber(current), highest) + 1}-${contentSha256.slice(0, 8)}`;
  if (!ID_PATTERN.test(v)) throw new TypeError(`version ${v} is not a valid id`);
  return v;
}

/** Whether `candidate` would replace `current` (never a downgrade or a re-use of a number). */
export function isNewer(candidate: string, current: string | undefined): boolean {
  return versionNumber(candidate) > versionNumber(current);
}
