/**
 * A page of a path's history: the first-parent commits that changed what the path holds, newest first.
 *
 * Round trips are bounded by the path's depth, not by the number of commits: the commits of a window come in one
 * fetch (commits only, `tree:0`, as deep as the window), then the trees on the path for all of them together,
 * one level per request (identical trees are asked for once, cached ones not at all).
 */
import { decodeCommit, type Commit, type Identity } from '../pack/commit.js';
import { decodeTree, isTreeMode } from '../pack/tree.js';
import type { Remote } from '../protocol/remote.js';
import type { ObjectCache } from './object-cache.js';
import { StoreError, type HistoryEntry } from './store.js';
import { MAX_TREE_ENTRIES } from './tree-edit.js';

export interface HistorySource {
  cache: ObjectCache;
  remote: Remote;
  signal: AbortSignal;
}

/** Commits looked at per page, at most: a path that rarely changes gives a short page and a cursor onwards. */
export const MAX_WINDOW = 1000;

export function encodeHistoryCursor(commit: string): string {
  return Buffer.from(`h:${commit}`, 'utf8').toString('base64url');
}

export function decodeHistoryCursor(text: string): string {
  const m = /^[A-Za-z0-9_-]{1,100}$/.test(text) ? /^h:([0-9a-f]{40})$/.exec(Buffer.from(text, 'base64url').toString('utf8')) : null;
  if (m === null) {
    throw new StoreError('bad-request', 'the cursor is not one this server gave out',
      'pass the "next" value of the previous page unchanged, or leave cursor out to start from the newest commit');
  }
  return m[1]!;
}

/** `segments` empty = the root directory; `dir` = the path is a directory (a tree), else a file. */
export async function historyPage(src: HistorySource, start: string, segments: readonly string[], dir: boolean,
  limit: number): Promise<{ commits: HistoryEntry[]; next: string | null }> {
  const window = Math.min(MAX_WINDOW, Math.max(50, limit * 20));
  const chain = await firstParents(src, start, window + 1);
  const values = await valuesAt(src, chain.map((c) => c.data.tree), segments, dir);
  const out: HistoryEntry[] = [];
  const seen = Math.min(window, chain.length);
  for (let i = 0; i < seen; i++) {
    const { oid, data } = chain[i]!;
    const parent = data.parents[0] ?? null;
    const before = parent === null ? null : i + 1 < chain.length ? values[i + 1]! : null;
    const now = values[i]!;
    if (now === before) continue;
    if (out.length === limit) return { commits: out, next: encodeHistoryCursor(oid) };
    out.push({
      commit: oid, parent, author: personOf(data.author), message: data.message,
      change: before === null ? 'create' : now === null ? 'delete' : 'modify', etag: now,
    });
  }
  const rest = chain[seen];
  return { commits: out, next: rest === undefined ? null : encodeHistoryCursor(rest.oid) };
}

/** Up to `n` commits from `start` down its first parents, fetched (commits only) in as few requests as it takes. */
async function firstParents(src: HistorySource, start: string, n: number): Promise<Array<{ oid: string; data: Commit }>> {
  const out: Array<{ oid: string; data: Commit }> = [];
  const fetched = new Map<string, Buffer>();
  for (let c: string | null = start; c !== null && out.length < n;) {
    let raw = fetched.get(c) ?? src.cache.get(c);
    if (raw === undefined) {
      for await (const o of src.remote.fetch({ wants: [c], depth: n - out.length, filter: 'tree:0' }, { signal: src.signal })) {
        if (o.type === 'commit') fetched.set(o.oid, o.data);
        // Only a server without filters sends them; one that serves only tips cannot be asked for them later.
        else if (o.type === 'tree') src.cache.set(o.oid, o.data);
      }
      raw = fetched.get(c);
      if (raw === undefined) throw new StoreError('upstream', `the git host did not send commit ${c}`);
    }
    if (fetched.has(c)) src.cache.set(c, raw);
    const data = decodeCommit(raw);
    out.push({ oid: c, data });
    c = data.parents[0] ?? null;
  }
  return out;
}

/** What each root tree holds at `segments` (a blob id, or a tree id with `dir`), null where nothing is. */
async function valuesAt(src: HistorySource, roots: string[], segments: readonly string[], dir: boolean): Promise<Array<string | null>> {
  let current: Array<string | null> = roots;
  const trees = new Map<string, Buffer>();
  for (let level = 0; level < segments.length; level++) {
    // Cached trees are taken now: the fetch below may evict them from the cache.
    for (const t of current) {
      const cached = t === null || trees.has(t) ? undefined : src.cache.get(t);
      if (cached !== undefined) trees.set(t!, cached);
    }
    const missing = [...new Set(current.filter((t): t is string => t !== null && !trees.has(t)))];
    if (missing.length > 0) {
      for await (const o of src.remote.fetch({ wants: missing, filter: 'tree:0' }, { signal: src.signal })) {
        if (o.type !== 'tree') continue;
        trees.set(o.oid, o.data);
        src.cache.set(o.oid, o.data);
      }
    }
    const name = Buffer.from(segments[level]!, 'utf8');
    const last = level === segments.length - 1;
    const memo = new Map<string, string | null>();
    current = current.map((tree) => {
      if (tree === null) return null;
      if (memo.has(tree)) return memo.get(tree)!;
      const data = trees.get(tree);
      if (data === undefined) throw new StoreError('upstream', `the git host did not send tree ${tree}`);
      const entry = decodeTree(data, { maxEntries: MAX_TREE_ENTRIES }).find((e) => e.name.equals(name));
      const value = entry === undefined ? null
        : isTreeMode(entry.mode) ? (last && !dir ? null : entry.oid)
          : last && !dir && (entry.mode.startsWith('10') || entry.mode === '120000') ? entry.oid : null;
      memo.set(tree, value);
      return value;
    });
  }
  return current;
}

/** A person with the date in ISO 8601, in the offset they wrote it in. */
export function personOf(who: Identity): { name: string; email: string; date: string } {
  const sign = who.timezone.startsWith('-') ? -1 : 1;
  const minutes = sign * (Number(who.timezone.slice(1, 3)) * 60 + Number(who.timezone.slice(3, 5)));
  const local = new Date((who.timestamp + minutes * 60) * 1000).toISOString().slice(0, 19);
  return { name: who.name, email: who.email, date: `${local}${who.timezone.slice(0, 3)}:${who.timezone.slice(3)}` };
}
