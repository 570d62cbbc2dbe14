/**
 * The trees on a batch's paths, fetched one level per request before the batch is planned. Planning edits one
 * path after another would otherwise fetch each changed tree on its own, one request each, in sequence: after
 * a lost race, a batch spread over a few directories spent most of its retry on those fetches, and lost again.
 */
import { decodeTree, isTreeMode } from '../pack/tree.js';
import { MAX_TREE_ENTRIES } from './tree-edit.js';

export interface PathTreeSource {
  /** A tree already at hand (cached), or undefined. */
  cached(oid: string): Buffer | undefined;
  /** Fetches these trees in one request. */
  fetchTrees(oids: string[]): Promise<Map<string, Buffer>>;
}

/**
 * Every tree on the way to the directories `dirs` (path segments, the file name left out) under `root`, that
 * exists: those not cached come in one request per level. Returns the ones fetched.
 */
export async function fetchPathTrees(source: PathTreeSource, root: string | null, dirs: ReadonlyArray<readonly string[]>):
  Promise<Map<string, Buffer>> {
  const fetched = new Map<string, Buffer>();
  if (root === null) return fetched;
  let level = new Map<string, Array<readonly string[]>>([[root, [...dirs]]]);
  while (level.size > 0) {
    const missing = [...level.keys()].filter((oid) => source.cached(oid) === undefined && !fetched.has(oid));
    if (missing.length > 0) for (const [oid, data] of await source.fetchTrees(missing)) fetched.set(oid, data);
    const next = new Map<string, Array<readonly string[]>>();
    for (const [oid, rests] of level) {
      const data = fetched.get(oid) ?? source.cached(oid);
      if (data === undefined) continue; // not sent: the plan's own lookup reports it
      const below = rests.filter((r) => r.length > 0);
      if (below.length === 0) continue;
      const entries = new Map(decodeTree(data, { maxEntries: MAX_TREE_ENTRIES }).map((e) => [e.name.toString('utf8'), e]));
      for (const rest of below) {
        const entry = entries.get(rest[0]!);
        if (entry === undefined || !isTreeMode(entry.mode)) continue;
        const list = next.get(entry.oid) ?? [];
        list.push(rest.slice(1));
        next.set(entry.oid, list);
      }
    }
    level = next;
  }
  return fetched;
}
