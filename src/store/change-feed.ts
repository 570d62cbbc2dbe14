/**
 * The change feed of a Git store: every commit of the branch, oldest first, to every subscriber.
 *
 * One pump serves all subscribers of the process: while anyone watches it looks up the tip once per
 * `pollMs` (and at once when this process pushed, or someone subscribed), walks first parents back to the
 * last tip it delivered, computes each new commit's changes once and hands them to every live subscriber,
 * filtered by its prefix. Steps never overlap, so after each one every live subscriber stands at the same
 * commit (`#last`); a new subscriber is brought there inside a step (replaying what it asked to resume
 * from), and only then goes live. Nothing is skipped or repeated: a failed step delivers nothing new and
 * the next one starts from the same commit again.
 */
import { StoreError, type Subscription, type WatchEvent, type WatchOptions } from './store.js';
import { toStoreError } from './errors.js';
import { commitsAfter, eventsOf, type FeedSource } from './feed-source.js';

/** How far back (first-parent commits) a resume is looked for, and a step walks, at most. */
export const MAX_RESUME_COMMITS = 10_000;
/** A replay computes changes for this many commits at a time, so its memory stays bounded. */
const REPLAY_CHUNK = 200;

interface Subscriber {
  opts: WatchOptions;
  prefix: string;
  live: boolean;
  closed: boolean;
}

export interface ChangeFeedOptions {
  pollMs: number;
  /** Told when steps start failing (the host unreachable…), once until one succeeds; the feed carries on polling. */
  onError?: (err: StoreError) => void;
}

export class ChangeFeed {
  readonly #src: FeedSource;
  readonly #opts: ChangeFeedOptions;
  readonly #subs = new Set<Subscriber>();
  readonly #abort = new AbortController();
  /** The tip every live subscriber has been given everything up to; undefined until the first step. */
  #last: string | null | undefined = undefined;
  #running = false;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #failing = false;
  /** Steps run so far (tests and metrics: one per interval, however many subscribers). */
  steps = 0;

  constructor(src: FeedSource, opts: ChangeFeedOptions) {
    this.#src = src;
    this.#opts = opts;
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  subscribe(opts: WatchOptions): Subscription {
    if (this.#closed) throw new StoreError('unavailable', 'the store is closed');
    if (opts.since !== undefined && !/^[0-9a-f]{40}$/.test(opts.since)) {
      throw new StoreError('bad-request', 'since is not a commit id', 'give the 40 hex digits of a commit the feed sent as its id');
    }
    const sub: Subscriber = { opts, prefix: opts.prefix ?? '', live: false, closed: false };
    this.#subs.add(sub);
    this.wake();
    return { close: () => this.#drop(sub) };
  }

  /** Looks at the tip now rather than at the next interval (our own push was accepted). */
  wake(): void {
    if (this.#closed || this.#subs.size === 0) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = true;
    void this.#step().finally(() => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.wake();
      } else if (!this.#closed && this.#subs.size > 0) {
        this.#timer = setTimeout(() => this.wake(), this.#opts.pollMs);
        this.#timer.unref();
      }
    });
  }

  /** Ends every subscription (onEnd with 'unavailable') and stops polling. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    const err = new StoreError('unavailable', 'the server is shutting down', 'reconnect with the last event id to resume');
    for (const sub of [...this.#subs]) this.#end(sub, err);
  }

  #drop(sub: Subscriber): void {
    sub.closed = true;
    this.#subs.delete(sub);
    if (this.#subs.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #end(sub: Subscriber, err?: StoreError): void {
    if (sub.closed) return;
    this.#drop(sub);
    sub.opts.onEnd(err);
  }

  async #step(): Promise<void> {
    this.steps++;
    const signal = this.#abort.signal;
    let tip: string | null;
    try {
      tip = await this.#src.readTip(signal);
      await this.#advance(tip, signal);
      this.#failing = false;
    } catch (err) {
      if (this.#closed) return;
      const e = toStoreError(err);
      if (!this.#failing) this.#opts.onError?.(e);
      this.#failing = true;
      // Those still waiting to start learn why; live ones wait for the next poll, which starts from #last again.
      for (const sub of [...this.#subs]) if (!sub.live) this.#end(sub, e);
      return;
    }
    for (const sub of [...this.#subs]) {
      if (sub.live || sub.closed || this.#closed) continue;
      try {
        await this.#start(sub, tip, signal);
      } catch (err) {
        if (!this.#closed) this.#end(sub, toStoreError(err));
      }
    }
  }

  /** Brings every live subscriber from #last to `tip`. */
  async #advance(tip: string | null, signal: AbortSignal): Promise<void> {
    const live = [...this.#subs].filter((s) => s.live);
    if (tip === this.#last || live.length === 0 || this.#last === undefined) {
      this.#last = tip;
      return;
    }
    const run = await commitsAfter(this.#src, tip, this.#last, MAX_RESUME_COMMITS, signal);
    if (run === null) {
      // Force-pushed, deleted, or moved too far in one interval: what came between cannot be told in order.
      this.#last = tip;
      const err = new StoreError('gone', 'the branch history was rewritten or moved too far at once',
        `the feed cannot tell what changed; read the data again and watch from the current tip (no since)`);
      for (const sub of live) this.#end(sub, err);
      return;
    }
    // One diff for all, limited to what every live subscriber's prefix has in common.
    const common = live.map((s) => s.prefix).reduce((a, b) => commonPrefix(a, b));
    const events = await eventsOf(this.#src, run.chain, run.base, common, signal);
    this.#last = tip;
    for (const event of events) {
      const memo = new Map<string, WatchEvent | null>();
      for (const sub of live) {
        let e = memo.get(sub.prefix);
        if (e === undefined) memo.set(sub.prefix, (e = filtered(event, sub.prefix)));
        if (e !== null && !sub.closed) sub.opts.onEvent(e);
      }
    }
  }

  /** Starts a subscriber at `tip` (#last now), replaying the commits after its `since` first. */
  async #start(sub: Subscriber, tip: string | null, signal: AbortSignal): Promise<void> {
    const since = sub.opts.since;
    if (since === undefined || since === tip) {
      this.#goLive(sub, since ?? tip);
      return;
    }
    const run = await commitsAfter(this.#src, tip, since, MAX_RESUME_COMMITS, signal);
    if (run === null) {
      throw new StoreError('gone', `commit ${since} is not on the branch's recent first-parent history`,
        `the feed resumes only from a commit among the last ${MAX_RESUME_COMMITS} of the branch's first parents; ` +
        'read the data again and watch from the current tip (leave since and Last-Event-ID out)');
    }
    this.#goLive(sub, since, false);
    let base = run.base;
    for (let i = 0; i < run.chain.length && !sub.closed; i += REPLAY_CHUNK) {
      const chunk = run.chain.slice(i, i + REPLAY_CHUNK);
      const events = await eventsOf(this.#src, chunk, base, sub.prefix, signal);
      base = chunk.at(-1)!.data;
      for (const e of events) if (!sub.closed && (sub.prefix === '' || e.changes.length > 0)) sub.opts.onEvent(e);
    }
    sub.live = true;
  }

  #goLive(sub: Subscriber, from: string | null, live = true): void {
    sub.opts.onStart(from);
    sub.live = live;
  }
}

/** The event as a subscriber with `prefix` sees it; null when nothing under the prefix changed. */
function filtered(event: WatchEvent, prefix: string): WatchEvent | null {
  if (prefix === '') return event;
  const changes = event.changes.filter((c) => c.path.startsWith(prefix));
  return changes.length === 0 ? null : { ...event, changes };
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}
