/**
 * `sitekd status` over several hubs on one broker (`--hub-id`, docs/scaling.md "Several hubs"): the retained
 * `hub/<id>/status` messages say which hubs are online and which sites each serves; the `status` and `sites` commands
 * then get one reply per hub (every hub answers a command without a site), and the sites are merged so that each is
 * listed once, with the hub serving it.
 */
import { decode, encode } from '../../shared/protocol/codec';
import { HubReplySchema, HubStatusSchema, type HubCommand, type HubReply } from '../../shared/protocol/messages';
import { hubCmdTopic, parseHubMemberStatus, replyTopic, sub } from '../../shared/protocol/topics';
import type { MqttTransport } from '../../shared/transport/mqtt-transport';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { SiteDetails } from './status-schema';

/** Online member hubs → the sites their retained status lists, gathered for `waitMs` after subscribing. */
export async function readMembers(t: MqttTransport, waitMs: number): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>();
  const filter = sub.hubMembers();
  await t.subscribe(filter, (topic, payload) => {
    const id = parseHubMemberStatus(topic);
    const r = decode(HubStatusSchema, payload);
    if (id === undefined || !r.ok) return;
    if (r.value.state === 'online') members.set(id, r.value.sites.map((s) => s.site));
    else members.delete(id);
  });
  // Retained messages arrive right after the SUBACK; a short wait collects them all.
  await new Promise((r) => setTimeout(r, waitMs));
  await t.unsubscribe(filter).catch(() => undefined);
  return members;
}

/** Sends `cmd` once and collects the replies until `expected` arrived or `timeoutMs` passed (CMD_TIMEOUT if none). */
export async function askEveryHub(t: MqttTransport, cmd: Omit<HubCommand, 'replyTo'>, clientId: string, expected: number, timeoutMs: number): Promise<HubReply[]> {
  const replyTo = replyTopic(clientId);
  const replies: HubReply[] = [];
  let done!: () => void;
  const complete = new Promise<void>((res) => (done = res));
  const timer = setTimeout(() => done(), timeoutMs);
  await t.subscribe(replyTo, (_topic, payload) => {
    const r = decode(HubReplySchema, payload);
    if (!r.ok || r.value.id !== cmd.id) return;
    replies.push(r.value);
    if (replies.length >= expected) done();
  });
  await t.publish(hubCmdTopic(), encode({ ...cmd, replyTo }), { qos: 1 });
  await complete;
  clearTimeout(timer);
  if (replies.length === 0) throw new SitekdError(ErrorCode.CMD_TIMEOUT, `no reply from a hub within ${timeoutMs / 1000} s (is a hub connected to this broker?)`);
  return replies;
}

/**
 * Each site once (during a handover two hubs' replies may both carry it): from the hub whose retained status lists it.
 * Every site of a member hub's reply names that hub (`hub`).
 */
export function mergeSites(lists: ReadonlyArray<readonly SiteDetails[]>, members: ReadonlyMap<string, readonly string[]>): SiteDetails[] {
  const bySite = new Map<string, SiteDetails>();
  for (const s of lists.flat()) {
    const named = [...members].find(([, list]) => list.includes(s.site))?.[0];
    if (bySite.has(s.site) && named !== s.hub) continue;
    bySite.set(s.site, s);
  }
  return [...bySite.values()].sort((a, b) => a.site.localeCompare(b.site));
}
