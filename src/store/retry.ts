/**
 * When and how the store retries an exchange with the git host.
 *
 * Transient failures are retried: the connection failed or timed out, the host answered 408, 429 or 5xx,
 * or its answer did not parse (a cut, truncated or damaged response). The wait is a jittered exponential
 * backoff, or what Retry-After asks if that is longer (capped), and retries stop at a number of attempts
 * or at a deadline, whichever comes first: no wait ever runs past the deadline. Anything else (our
 * credentials refused, no such repository, a refusal the host reported itself) is final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PackError } from '../pack/errors.js';
import { HttpStatusError, ProtocolError, TransportError } from '../protocol/errors.js';
import { StoreError } from './store.js';
import { DEFAULT_MAX_RETRY_AFTER_MS } from './options.js';

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** Epoch milliseconds; no retry starts (or waits) beyond it. */
  deadline: number;
  /** Backoff before retry `n` (1-based); jittered exponential by default. */
  backoffMs?: (n: number) => number;
  /** Longest Retry-After honored; default DEFAULT_MAX_RETRY_AFTER_MS. */
  maxRetryAfterMs?: number;
  /** Wait after the `streak`-th lost race in a row; default raceBackoff. */
  raceBackoffMs?: (streak: number) => number;
}


export const defaultBackoff = (n: number): number => Math.random() * Math.min(2000, 25 * 2 ** n);

export function isTransient(err: unknown): boolean {
  // 'aborted' is our own deadline (or shutdown) speaking: retrying would only overrun it.
  if (err instanceof TransportError) return err.code !== 'aborted';
  if (err instanceof HttpStatusError) return err.status === 408 || err.status === 429 || err.status >= 500;
  // A missing capability or an answer over our size limit would be the same next time.
  if (err instanceof ProtocolError) return err.code !== 'unsupported' && err.code !== 'too-large';
  if (err instanceof PackError) return err.code !== 'too-large';
  return false;
}

/** Failures of connecting at all: no byte of the request reached the host. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a push that failed with `err` may still have been applied by the host. Only a clear "no" counts
 * as no: a 4xx answer (the host refused the request as a whole), a refusal the store read from the host's
 * report (a StoreError), or a connection that was never made. A timeout, a lost or damaged answer, or a
 * 5xx (a gateway may have passed the push on) leave the outcome open.
 */
export function pushMayHaveLanded(err: unknown): boolean {
  if (err instanceof StoreError) return false;
  if (err instanceof HttpStatusError) return err.status >= 500;
  if (err instanceof TransportError) {
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    return !(typeof code === 'string' && NOT_CONNECTED.has(code));
  }
  return true;
}

/** The wait before retry `n` (1-based) after `err`: the backoff, or Retry-After (capped) when that is longer. */
export function retryDelayMs(err: unknown, n: number, policy: Pick<RetryPolicy, 'backoffMs' | 'maxRetryAfterMs'>): number {
  const backoff = Math.max(0, (policy.backoffMs ?? defaultBackoff)(n));
  const asked = err instanceof HttpStatusError ? err.retryAfterMs : undefined;
  if (asked === undefined) return backoff;
  return Math.max(backoff, Math.min(asked, policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS));
}

/** Attempts and time left for one operation; counts the retries it spends. */
export class RetryBudget {
  readonly policy: RetryPolicy;
  retries = 0;
  #attempts = 1;

  constructor(policy: RetryPolicy) {
    this.policy = policy;
  }

  /**
   * Waits before another attempt after `err` (undefined: nothing failed, e.g. a lost race) and counts it.
   * Resolves false at once when no attempt is left or the wait would end past the deadline.
   */
  async next(err: unknown): Promise<boolean> {
    if (this.#attempts >= this.policy.maxAttempts) return false;
    return this.#wait(retryDelayMs(err, this.retries + 1, this.policy), true);
  }

  /**
   * Waits before another attempt after losing the race for the branch `streak` times in a row. Lost races
   * are bounded by the deadline alone, not by the attempts: under contention a write keeps trying, and gives
   * up only when its time is spent.
   */
  async nextRace(streak: number): Promise<boolean> {
    return this.#wait((this.policy.raceBackoffMs ?? raceBackoff)(streak), false);
  }

  async #wait(ms: number, counted: boolean): Promise<boolean> {
    if (Date.now() + ms >= this.policy.deadline) return false;
    if (ms > 0) await sleep(ms);
    if (counted) this.#attempts++;
    this.retries++;
    return true;
  }
}

/**
 * The wait before the next attempt of a write that lost the race for the branch `streak` times in a row:
 * jittered, and growing with the streak, so that writers that lost together do not come back together and a
 * long streak backs off further (at most a second). Lost races are not counted against the attempts; the
 * write's deadline bounds them (BENCHMARKS.md, "Writers under contention").
 */
export const raceBackoff = (streak: number): number => Math.random() * Math.min(1000, 25 * 2 ** streak);

/** Runs `attempt` until it succeeds, fails for good, or the budget is spent; rethrows the last failure. */
export async function retrying<T>(budget: RetryBudget, attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err) || !(await budget.next(err))) throw err;
    }
  }
}

/** An abort signal that fires after `ms`, unless cleared first (e.g. once a response is handed over). */
export interface Deadline {
  readonly at: number;
  readonly ms: number;
  readonly signal: AbortSignal;
  readonly expired: boolean;
  clear(): void;
}

export function startDeadline(ms: number): Deadline {
  const controller = new AbortController();
  const at = Date.now() + ms;
  const timer = setTimeout(() => controller.abort(), ms);
  timer.unref();
  return {
    at,
    ms,
    signal: controller.signal,
    get expired() {
      return controller.signal.aborted;
    },
    clear: () => clearTimeout(timer),
  };
}
