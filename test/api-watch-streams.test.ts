// The /_watch stream registry without a network: a client that does not read is cut off at the buffer
// bound (and its subscription closed), and a stream still waiting to start is answered 503 on shutdown.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t from 'tap';
import { WatchStreams } from '../src/api/watch.js';
import type { Outcome } from '../src/api/outcome.js';
import type { Store, WatchEvent, WatchOptions } from '../src/store/store.js';

/** A response whose socket never drains: every byte written stays unsent. */
class StuckResponse extends EventEmitter {
  writableLength = 0;
  written: string[] = [];
  destroyed = false;
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    this.writableLength += Buffer.byteLength(chunk);
    return false;
  }
  end(): this {
    this.ended = true;
    this.emit('close');
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

function fakeStore(onWatch: (opts: WatchOptions) => void): Store & { closed: number } {
  const store = {
    closed: 0,
    watch(opts: WatchOptions) {
      queueMicrotask(() => onWatch(opts));
      return { close: () => void store.closed++ };
    },
  };
  return store as unknown as Store & { closed: number };
}

const req = { method: 'GET', url: '/_watch', headers: {} } as unknown as IncomingMessage;
const event = (i: number): WatchEvent => ({
  commit: i.toString(16).padStart(40, '0'), parent: null, author: { name: 'n', email: 'e', date: 'd' }, message: 'm',
  changes: [{ path: `f${i}.txt`, change: 'create', etag: 'a'.repeat(40) }],
});

t.test('a client that does not read is cut off at the buffer bound', async (t) => {
  let delivered = 0;
  const store = fakeStore((opts) => {
    opts.onStart(null);
    for (let i = 0; i < 1000; i++) {
      opts.onEvent(event(i));
      delivered++;
    }
  });
  const res = new StuckResponse();
  const out: Outcome = { path: '/_watch', retries: 0, observed: false };
  const streams = new WatchStreams();
  await streams.handle(store, { maxWatchers: 1, heartbeatMs: 60_000, bufferBytes: 4096 }, req, res as unknown as ServerResponse, out);
  t.ok(res.destroyed, 'the connection is cut');
  t.equal(store.closed, 1, 'the subscription is closed');
  t.equal(streams.size, 0, 'the slot is free');
  t.ok(res.writableLength <= 4096 + 1024, `at most the bound and one event unsent (${res.writableLength} bytes)`);
  t.match(out.error, /too slow/);
  t.ok(delivered === 1000, 'the feed may go on calling; nothing more is written');
  t.ok(res.written.length < 40);
});

t.test('shutdown answers a stream that has not started 503, and ends one that has', async (t) => {
  const streams = new WatchStreams();
  const waiting = new StuckResponse();
  const pending = streams.handle(fakeStore(() => {}), { maxWatchers: 2, heartbeatMs: 60_000 }, req,
    waiting as unknown as ServerResponse, { path: '', retries: 0, observed: false });
  const started = new StuckResponse();
  const running = streams.handle(fakeStore((o) => o.onStart('c'.repeat(40))), { maxWatchers: 2, heartbeatMs: 60_000 }, req,
    started as unknown as ServerResponse, { path: '', retries: 0, observed: false });
  await new Promise((r) => setImmediate(r));
  t.equal(streams.size, 2);
  streams.close();
  t.equal(await pending.then(() => 'resolved', (e: { kind?: string }) => e.kind), 'unavailable', 'not started: a 503');
  await running;
  t.ok(started.ended, 'ended cleanly');
  const late = streams.handle(fakeStore(() => {}), { maxWatchers: 2, heartbeatMs: 60_000 }, req,
    new StuckResponse() as unknown as ServerResponse, { path: '', retries: 0, observed: false });
  t.equal(await late.then(() => 'resolved', (e: { kind?: string }) => e.kind), 'unavailable', 'no new stream once closed');
});
