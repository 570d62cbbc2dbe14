// The engine's health as the store sees it, told to a sink the API turns into metrics. The store never imports
// the API: whoever builds a GitStore passes a sink (or none, and nothing is counted).
import { NO_GIT_HOST_OBSERVER, type GitHostObserver } from '../protocol/observer.js';

/** How a push that got no clear answer turned out once the branch was read back. */
export type InDoubtResolution = 'landed' | 'not_landed' | 'unknown';

export interface ObjectCacheStats {
  hits: number;
  misses: number;
  bytes: number;
}

export interface EngineMetrics extends GitHostObserver {
  /** A push was accepted carrying `writes` writes (one commit each: group commit). */
  pushed(writes: number): void;
  /** A push was refused because the branch had moved (another writer got there first). */
  lostRace(): void;
  /** A push got no clear answer. Told once more per reading back, with what that reading found. */
  pushInDoubt(resolution: InDoubtResolution): void;
  /**
   * The host reported a push as accepted but the branch does not hold it (a broken server): found by
   * GIT_VERIFY_PUSH before answering, or afterwards by the next ref lookup.
   */
  pushNotApplied(when: 'verified' | 'later'): void;
  /** Where the object cache's counts can be read at any time. */
  objectCache(read: () => ObjectCacheStats): void;
}

export const NO_ENGINE_METRICS: EngineMetrics = {
  ...NO_GIT_HOST_OBSERVER,
  pushed() {},
  lostRace() {},
  pushInDoubt() {},
  pushNotApplied() {},
  objectCache() {},
};

/** Where the store says what an operator should know (the API passes its logger). */
export type StoreLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
