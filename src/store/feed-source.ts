/**
 * What the change feed reads from the Git store: the tip, first-parent runs of commits, trees in batches, and
 * each commit's changes as events. Commits come without trees (`tree:0`) in fetches of growing depth, so the
 * usual case (one or two new commits) costs one small request and a long resume few requests.
 */
import { decodeCommit, type Commit } from '../pack/commit.js';
import type { PackObject } from '../pack/pack-reader.js';
import { personOf } from './git-history.js';
import type { ObjectCache } from './object-cache.js';
import { StoreError, type WatchEvent } from './store.js';
import { diffTrees } from './tree-diff.js';

export interface FeedSource {
  cache: ObjectCache;
  /** The store's own ref lookup, so every poll also keeps the store's known tip up to date. */
  readTip(signal: AbortSignal): Promise<string | null>;
  /** Fetches objects by id; returns the wanted ones and any commits, caching trees and commits. */
  fetch(wants: string[], opts: { depth?: number; filter?: string }, signal: AbortSignal): Promise<Map<string, PackObject>>;
}

export interface CommitData {
  oid: string;
  data: Commit;
}

/** The first fetch of commits asks for this many; each further one for twice as many as the last. */
const FIRST_DEPTH = 32;

/**
 * The first-parent commits after `stop` up to `tip`, oldest first, and the data of `stop` itself (null when
 * `stop` is null: back to the root). Null when `stop` is not among the first `bound` first parents of `tip`.
 */
export async function commitsAfter(src: FeedSource, tip: string | null, stop: string | null, bound: number,
  signal: AbortSignal): Promise<{ chain: CommitData[]; base: Commit | null } | null> {
  const chain: CommitData[] = [];
  const fetched = new Map<string, Buffer>();
  let depth = FIRST_DEPTH;
  const load = async (oid: string, want: number): Promise<Commit> => {
    let raw = fetched.get(oid) ?? src.cache.get(oid);
    if (raw === undefined) {
      for (const [id, o] of await src.fetch([oid], { depth: Math.max(1, Math.min(want, depth)), filter: 'tree:0' }, signal)) {
        if (o.type === 'commit') fetched.set(id, o.data);
      }
      depth *= 2;
      raw = fetched.get(oid);
      if (raw === undefined) throw new StoreError('upstream', `the git host did not send commit ${oid}`);
    }
    return decodeCommit(raw);
  };
  for (let c = tip; c !== stop;) {
    if (c === null || chain.length >= bound) return null;
    const data = await load(c, bound - chain.length + 1);
    chain.push({ oid: c, data });
    c = data.parents[0] ?? null;
  }
  chain.reverse();
  return { chain, base: stop === null ? null : await load(stop, 1) };
}

/** Each commit of `chain` (oldest first, after `base`) as an event with its changes under `prefix`. */
export async function eventsOf(src: FeedSource, chain: readonly CommitData[], base: Commit | null, prefix: string,
  signal: AbortSignal): Promise<WatchEvent[]> {
  const pairs = chain.map((c, i) => ({ before: i === 0 ? (base?.tree ?? null) : chain[i - 1]!.data.tree, after: c.data.tree }));
  const diffs = await diffTrees(pairs, (oids) => loadTrees(src, oids, signal), prefix);
  return chain.map((c, i) => {
    const event: WatchEvent = {
      commit: c.oid, parent: c.data.parents[0] ?? null, author: personOf(c.data.author), message: c.data.message,
      changes: diffs[i]!.changes,
    };
    if (diffs[i]!.truncated) event.truncated = true;
    return event;
  });
}

/** The trees asked for: cached ones taken first (the fetch may evict them), the rest in one request. */
async function loadTrees(src: FeedSource, oids: string[], signal: AbortSignal): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const oid of oids) {
    const cached = src.cache.get(oid);
    if (cached !== undefined) out.set(oid, cached);
  }
  const missing = oids.filter((o) => !out.has(o));
  if (missing.length > 0) {
    for (const [oid, o] of await src.fetch(missing, { filter: 'tree:0' }, signal)) if (o.type === 'tree') out.set(oid, o.data);
  }
  for (const oid of oids) if (!out.has(oid)) throw new StoreError('upstream', `the git host did not send tree ${oid}`);
  return out;
}
