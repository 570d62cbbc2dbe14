// /readyz: is the Git host answering? Liveness (/healthz) says the process runs; readiness says it can serve,
// which for the Git backend means a ref lookup at the host succeeded recently. The answer is cached for a
// second or so and concurrent probes share one lookup, so a busy prober costs the host at most one request a
// second; each lookup is bounded by a timeout, so /readyz never hangs on a silent host.

import type { Store } from '../store/store.js';
import { isStoreError } from '../store/store.js';

export type ReadyState = { ready: true } | { ready: false; reason: string };

export interface ReadinessOptions {
  /** Bound on one ref lookup. */
  timeoutMs: number;
  /** How long an answer is reused. */
  cacheMs?: number;
}

export const READY_CACHE_MS = 1000;

export class Readiness {
  readonly #store: Store;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #last?: { state: ReadyState; at: number };
  #inFlight?: Promise<ReadyState>;
  #stopping = false;

  constructor(store: Store, opts: ReadinessOptions) {
    this.#store = store;
    this.#timeoutMs = opts.timeoutMs;
    this.#cacheMs = opts.cacheMs ?? READY_CACHE_MS;
  }

  /** From now on not ready: the server is shutting down and load balancers should stop sending. */
  stop(): void {
    this.#stopping = true;
  }

  async check(): Promise<ReadyState> {
    if (this.#stopping) return { ready: false, reason: 'the server is shutting down' };
    const ping = this.#store.ping?.bind(this.#store);
    if (ping === undefined) return { ready: true };
    const last = this.#last;
    if (last !== undefined && performance.now() - last.at < this.#cacheMs) return last.state;
    this.#inFlight ??= this.#probe(ping).finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #probe(ping: (signal?: AbortSignal) => Promise<void>): Promise<ReadyState> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<ReadyState>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ ready: false, reason: `the git host did not answer a ref lookup within ${this.#timeoutMs} ms` });
      }, this.#timeoutMs);
    });
    const answered = ping(controller.signal).then(
      (): ReadyState => ({ ready: true }),
      (err: unknown): ReadyState => ({ ready: false, reason: `the git host did not answer a ref lookup: ${describe(err)}` }),
    );
    try {
      const state = await Promise.race([answered, timedOut]);
      this.#last = { state, at: performance.now() };
      return state;
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(err: unknown): string {
  if (isStoreError(err)) return err.detail === undefined ? err.message : `${err.message} (${err.detail})`;
  return err instanceof Error ? err.message : String(err);
}
