/**
 * What a caller hands the hub (hub/main.ts, the tests) and the states it goes through. Kept out of
 * hub/hub.ts, which re-exports both, so that file holds only the lifecycle.
 */
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/log';
import type { HubConfig } from './config';
import type { MlRunner } from './worker/ml-runner';

export interface HubOptions {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly hubVersion: string;
  /** Time for timestamps, timers and deadlines (hub/main.ts passes systemClock). */
  readonly clock: Clock;
  /** Runs training tasks (default: the hub's warm pool of `roundConcurrency` worker threads, hub/worker/ml-pool.ts). */
  readonly run?: MlRunner;
  /** Called once the embedded broker listens (before the teacher is ready), e.g. to print a free port. */
  readonly onBrokerListening?: (port: number, url: string) => void;
  /** Called once the HTTP server (`httpPort`) listens, before the teacher is ready. */
  readonly onHttpListening?: (url: string) => void;
}

export type HubState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';
