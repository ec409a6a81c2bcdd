/**
 * Alerts as data: the conditions an operator wants to be told about, computed the same way for `/metrics` (0/1
 * gauges that Prometheus rules in deploy/prometheus/ fire on) and for `sitekd status` (a list, and its exit status).
 * A pure function of what the hub knows; it decides nothing and notifies no one.
 *  - `agent-offline`: an agent the hub has seen is offline (its last will, or a clean stop) or stale (online by its
 *    last status but silent for longer than `staleAfterSeconds`);
 *  - `drift`: an agent's latest drift score (agent/telemetry.ts: rise of the mean normalised predictive entropy since
 *    its model was activated) is above `driftAlertThreshold`;
 *  - `rounds-failing`: a site's last `roundsFailingAlert` rounds (skipped ones not counted) all failed.
 */
import type { AgentInfo } from '../sites/site-registry';
import type { FleetView } from './fleet-view';

export type AlertKind = 'agent-offline' | 'drift' | 'rounds-failing';
export const ALERT_KINDS: readonly AlertKind[] = ['agent-offline', 'drift', 'rounds-failing'];

export interface Alert {
  readonly kind: AlertKind;
  readonly site: string;
  readonly agent?: string;
  readonly message: string;
}

export interface AlertThresholds {
  readonly driftAlertThreshold: number;
  readonly roundsFailingAlert: number;
}

export function agentAlerts(a: AgentInfo, view: FleetView, t: AlertThresholds): Alert[] {
  const out: Alert[] = [];
  if (a.state !== 'online') {
    out.push({ kind: 'agent-offline', site: a.site, agent: a.agent, message: `${a.site}/${a.agent} is ${a.state} (last seen ${new Date(a.lastSeenAt).toISOString()})` });
  }
  const drift = view.agentTelemetry(a.site, a.agent)?.telemetry.driftScore ?? null;
  if (drift !== null && drift > t.driftAlertThreshold) {
    out.push({ kind: 'drift', site: a.site, agent: a.agent, message: `${a.site}/${a.agent} drift ${drift.toFixed(3)} > ${t.driftAlertThreshold}` });
  }
  return out;
}

export function siteAlerts(site: string, agents: readonly AgentInfo[], view: FleetView, t: AlertThresholds): Alert[] {
  const out = agents.flatMap((a) => agentAlerts(a, view, t));
  const failed = view.failedInARow(site);
  if (failed >= t.roundsFailingAlert) {
    const code = view.lastRound(site)?.error?.code;
    out.push({ kind: 'rounds-failing', site, message: `${site}: the last ${failed} rounds failed${code !== undefined ? ` (${code})` : ''}` });
  }
  return out;
}
