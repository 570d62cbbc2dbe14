// ChangeFeed over commits built in memory: a long resume (several replay windows) in order and once, live
// commits after it, several subscribers served by one lookup of the tip per step, and a since too far back.
import t from 'tap';
import { encodeCommit } from '../src/pack/commit.js';
import { hashObject } from '../src/pack/oid.js';
import { BLOB_MODE, encodeTree } from '../src/pack/tree.js';
import { ChangeFeed } from '../src/store/change-feed.js';
import type { FeedSource } from '../src/store/feed-source.js';
import { ObjectCache } from '../src/store/object-cache.js';
import type { StoreError, WatchEvent } from '../src/store/store.js';

const who = { name: 'A', email: 'a@x', timestamp: 1_700_000_000, timezone: '+0000' };

function history(n: number) {
  const cache = new ObjectCache(64 * 1024 * 1024);
  const commits: string[] = [];
  const files = { 'even.txt': hashObject('blob', Buffer.from('e')), 'odd.txt': hashObject('blob', Buffer.from('o')) };
  // Commit i changes even.txt or odd.txt by its parity; keep.txt never changes.
  const add = (i: number): string => {
    files[i % 2 === 0 ? 'even.txt' : 'odd.txt'] = hashObject('blob', Buffer.from(`v${i}`));
    const tree = encodeTree([...Object.entries(files).map(([name, oid]) => ({ mode: BLOB_MODE, name: Buffer.from(name), oid })),
      { mode: BLOB_MODE, name: Buffer.from('keep.txt'), oid: hashObject('blob', Buffer.from('k')) }]);
    const treeId = hashObject('tree', tree);
    cache.set(treeId, tree);
    const data = encodeCommit({ tree: treeId, parents: commits.length ? [commits.at(-1)!] : [], author: who, committer: who, message: `c${i}\n` });
    const oid = hashObject('commit', data);
    cache.set(oid, data);
    commits.push(oid);
    return oid;
  };
  for (let i = 0; i < n; i++) add(i);
  let lookups = 0;
  const src: FeedSource = {
    cache,
    readTip: async () => {
      lookups++;
      return commits.at(-1) ?? null;
    },
    fetch: async () => {
      throw new Error('everything is cached: nothing may be fetched');
    },
  };
  return { src, commits, add, lookups: () => lookups };
}

function collect(feed: ChangeFeed, opts: { since?: string; prefix?: string } = {}) {
  const events: WatchEvent[] = [];
  let started: string | null | undefined;
  let ended: StoreError | undefined | 'no';
  let wake = () => {};
  const sub = feed.subscribe({
    ...opts,
    onStart: (from) => { started = from; wake(); },
    onEvent: (e) => { events.push(e); wake(); },
    onEnd: (err) => { ended = err ?? 'no'; wake(); },
  });
  const until = async (ok: () => boolean) => {
    for (let i = 0; !ok(); i++) {
      if (i > 1000) throw new Error('timed out');
      await new Promise<void>((r) => { wake = r; setTimeout(r, 20); });
    }
  };
  return { events, sub, until, started: () => started, ended: () => ended };
}

t.test('a resume over several replay windows, then live, each commit once and in order', async (t) => {
  const h = history(450);
  const feed = new ChangeFeed(h.src, { pollMs: 60_000 });
  t.teardown(() => feed.close());
  const all = collect(feed, { since: h.commits[0]! });
  const odd = collect(feed, { since: h.commits[0]!, prefix: 'odd' });
  await all.until(() => all.events.length === 449 && odd.events.length === 225);
  t.equal(all.started(), h.commits[0]);
  t.same(all.events.map((e) => e.commit), h.commits.slice(1), 'every commit after since, in order');
  t.same(all.events[0]!.changes.map((c) => `${c.change} ${c.path}`), ['modify odd.txt']);
  t.ok(odd.events.every((e) => e.changes.every((c) => c.path === 'odd.txt')), 'only the prefix');
  // The first subscribe starts a step; the second, arriving during it, asks for one more (coalesced).
  t.ok(h.lookups() <= 2, `two subscribers started with ${h.lookups()} lookups of the tip`);
  const before = h.lookups();
  const next = h.add(450);
  feed.wake();
  await all.until(() => all.events.length === 450);
  t.equal(all.events.at(-1)!.commit, next);
  t.equal(odd.events.length, 225, 'a commit outside the prefix is skipped for it');
  t.equal(h.lookups(), before + 1, 'one lookup for both live subscribers');
  feed.close();
  t.equal(all.ended() && (all.ended() as StoreError).kind, 'unavailable', 'close ends every subscription');
});

t.test('a since that is not on the first-parent history is gone; a bad one is refused at once', async (t) => {
  const h = history(3);
  const feed = new ChangeFeed(h.src, { pollMs: 60_000 });
  t.teardown(() => feed.close());
  const lost = collect(feed, { since: 'a'.repeat(40) });
  await lost.until(() => lost.ended() !== undefined);
  t.equal((lost.ended() as StoreError).kind, 'gone');
  t.equal(lost.started(), undefined, 'never started');
  t.throws(() => feed.subscribe({ since: 'nope', onStart() {}, onEvent() {}, onEnd() {} }), { name: 'StoreError' });
  const now = collect(feed);
  await now.until(() => now.started() !== undefined);
  t.equal(now.started(), h.commits.at(-1), 'no since: from the current tip');
  now.sub.close();
  t.equal(feed.subscribers, 0);
});
