/**
 * The agent's retained status on `{site}/{agent}/status` (docs/protocol.md AgentStatus): a birth message on every
 * (re)connect, the retained last will `{state: 'offline'}` registered at connect, and `offline` with a time on a
 * clean stop (a clean disconnect does not fire the will).
 */
import type { AgentStatus } from '../shared/protocol/messages';

export interface BirthInfo {
  readonly agentVersion: string;
  readonly modelVersion: string | null;
  readonly backend: string;
  readonly sensors: readonly string[];
  readonly channels: number;
  readonly windowLength: number;
  readonly startedAt: number;
  readonly lastUpdateError?: { readonly code: string; readonly message: string; readonly version: string; readonly at: number } | null;
}

export function birthStatus(info: BirthInfo, ts: number): AgentStatus {
  return {
    state: 'online',
    agentVersion: info.agentVersion,
    modelVersion: info.modelVersion,
    backend: info.backend,
    sensors: [...info.sensors],
    channels: info.channels,
    windowLength: info.windowLength,
    startedAt: info.startedAt,
    ts,
    ...(info.lastUpdateError ? { lastUpdateError: { ...info.lastUpdateError, message: info.lastUpdateError.message.slice(0, 1000) } } : {}),
  };
}

/** The last will has no time (it is fixed at connect); a clean stop says when. */
export function offlineStatus(ts?: number): AgentStatus {
  return ts === undefined ? { state: 'offline' } : { state: 'offline', ts };
}
