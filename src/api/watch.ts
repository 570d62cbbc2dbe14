// GET /_watch: the store's change feed as Server-Sent Events, one `commit` event per commit, oldest first.
//
// The streams are counted and bounded here (MAX_WATCHERS); each has a heartbeat so proxies keep it open, and
// a bound on what it may have unsent: a client that does not read is cut off rather than held in memory (it
// resumes with Last-Event-ID and misses nothing). On shutdown every stream is ended cleanly.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isStoreError, StoreError, type Store, type Subscription, type WatchEvent } from '../store/store.js';
import { HttpError } from './http-error.js';
import type { Outcome } from './outcome.js';

/** Unsent bytes a stream may hold before its client counts as too slow. */
export const DEFAULT_WATCH_BUFFER_BYTES = 1024 * 1024;
const MAX_PREFIX_BYTES = 4096;

export interface WatchLimits {
  maxWatchers: number;
  heartbeatMs: number;
  bufferBytes?: number;
}

/** The open streams of one server: counted against MAX_WATCHERS, ended together on shutdown. */
export class WatchStreams {
  readonly #open = new Set<() => void>();
  #closed = false;

  get size(): number {
    return this.#open.size;
  }

  /** Ends every stream (their clients see the end of the response) and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const end of [...this.#open]) end();
  }

  async handle(store: Store, limits: WatchLimits, req: IncomingMessage, res: ServerResponse, out: Outcome): Promise<void> {
    if (store.watch === undefined) {
      throw new HttpError(501, 'this store has no change feed', 'the memory backend keeps no history; use BACKEND_TYPE=git');
    }
    const { prefix, since } = watchQuery(req);
    if (this.#closed) throw new StoreError('unavailable', 'the server is shutting down');
    if (this.#open.size >= limits.maxWatchers) {
      throw new HttpError(503, `too many watchers (${limits.maxWatchers})`,
        'try again later, or have the operator raise MAX_WATCHERS', { 'Retry-After': '5' });
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, HEADERS).end();
      return;
    }
    const watch = store.watch.bind(store);
    const bufferBytes = limits.bufferBytes ?? DEFAULT_WATCH_BUFFER_BYTES;
    await new Promise<void>((resolve, reject) => {
      let sub: Subscription | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      let started = false;
      const finish = (how: 'end' | 'cut' | 'gone'): void => {
        if (!this.#open.delete(end)) return;
        clearInterval(heartbeat);
        sub?.close();
        if (how === 'cut') res.destroy();
        if (how === 'end' && !started) {
          reject(new StoreError('unavailable', 'the server is shutting down'));
          return;
        }
        if (how === 'end') res.end();
        resolve();
      };
      const end = (): void => finish('end');
      this.#open.add(end);
      res.once('close', () => finish('gone'));
      try {
        sub = watch({
          prefix,
          ...(since === undefined ? {} : { since }),
          onStart: (from) => {
            if (!this.#open.has(end)) return; // the client left first
            started = true;
            res.writeHead(200, HEADERS);
            // Tells the client (and tests) where the stream starts; comments are ignored by EventSource.
            res.write(`: watching after ${from ?? 'the start of the branch'}\n\n`);
            heartbeat = setInterval(() => res.write(': ping\n\n'), limits.heartbeatMs);
            heartbeat.unref();
          },
          onEvent: (e) => {
            // Once a stream is finished nothing more is written, whatever the feed still delivers.
            if (!this.#open.has(end)) return;
            res.write(frameOf(e));
            if (res.writableLength > bufferBytes) {
              out.error = `watcher too slow: more than ${bufferBytes} bytes unsent; disconnected`;
              finish('cut');
            }
          },
          onEnd: (err) => {
            if (!started && err !== undefined && this.#open.delete(end)) {
              reject(err);
              return;
            }
            if (err !== undefined) out.error = `feed ended: ${err.message}`;
            finish('end');
          },
        });
      } catch (err) {
        this.#open.delete(end);
        reject(isStoreError(err) ? err : new StoreError('upstream', String(err)));
      }
    });
  }
}

const HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  // Proxies such as nginx buffer responses unless told not to; a feed must arrive as it happens.
  'X-Accel-Buffering': 'no',
};

/** Serialized once per event object, however many subscribers receive the same one. */
const frames = new WeakMap<WatchEvent, string>();

function frameOf(e: WatchEvent): string {
  let frame = frames.get(e);
  if (frame === undefined) {
    // JSON never holds a raw line break, so the data fits on one `data:` line.
    frame = `id: ${e.commit}\nevent: commit\ndata: ${JSON.stringify(e)}\n\n`;
    frames.set(e, frame);
  }
  return frame;
}

/** `?prefix=`, and where to resume: the Last-Event-ID header (a reconnect) before `?since=`. */
export function watchQuery(req: IncomingMessage): { prefix: string; since?: string } {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const params = new URLSearchParams(q === -1 ? '' : url.slice(q + 1).split('#', 1)[0]);
  for (const name of ['prefix', 'since']) {
    if (params.getAll(name).length > 1) throw new HttpError(400, `the query parameter ${name} is given twice`, 'give it once');
  }
  const prefix = params.get('prefix') ?? '';
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES || /[\x00-\x1f\x7f]/.test(prefix) || prefix.startsWith('/')) {
    throw new HttpError(400, 'the prefix is not a usable path prefix',
      `give the start of a path without a leading "/" (e.g. prefix=users/), at most ${MAX_PREFIX_BYTES} bytes`);
  }
  const header = req.headers['last-event-id'];
  const raw = (typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined) ?? params.get('since') ?? undefined;
  if (raw !== undefined && !/^[0-9a-f]{40}$/.test(raw)) {
    throw new HttpError(400, 'since (or Last-Event-ID) is not a commit id',
      'give the id of the last event received (40 hex digits), or leave it out to start at the current tip');
  }
  return raw === undefined ? { prefix } : { prefix, since: raw };
}
