/**
 * Which live hub owns a site: rendezvous (highest-random-weight) hashing. Every hub computes the same answer from the
 * same set of live hub ids, so no election protocol is needed; when a hub leaves, only its own sites move (each to the
 * hub with its next-highest weight), and when one joins it takes about 1/N of every other hub's sites.
 */
import { createHash } from 'node:crypto';

/** The weight of `hub` for `site`: the first 8 bytes of SHA-256 over both ids, as an unsigned integer. */
export function weight(site: string, hub: string): bigint {
  return createHash('sha256').update(`${hub}\n${site}`).digest().readBigUInt64BE(0);
}

/** The owner of `site` among `hubs` (undefined when there is none); ties (never seen in practice) go to the smaller id. */
export function ownerOf(site: string, hubs: Iterable<string>): string | undefined {
  let best: { hub: string; w: bigint } | undefined;
  for (const hub of hubs) {
    const w = weight(site, hub);
    if (best === undefined || w > best.w || (w === best.w && hub < best.hub)) best = { hub, w };
  }
  return best?.hub;
}
