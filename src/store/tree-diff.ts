/**
 * The files that differ between pairs of root trees (a commit's parent's and its own), for many pairs at once.
 *
 * Breadth first, one level of all pairs together, so the trees of a whole window of commits come in one
 * request per level (as history does): round trips grow with the depth of the deepest change, not with the
 * number of commits. Only subtrees whose ids differ are loaded; a prefix keeps out subtrees it cannot match.
 */
import { decodeTree, isTreeMode, type TreeEntry } from '../pack/tree.js';
import type { FileChange } from './store.js';
import { MAX_TREE_ENTRIES } from './tree-edit.js';

/** Loads several trees by id in one go (from a cache, or one request for the missing ones). */
export type TreeBatchLoader = (oids: string[]) => Promise<Map<string, Buffer>>;

export interface TreePair {
  /** null: no tree (the parent of a root commit). */
  before: string | null;
  after: string | null;
}

export interface TreeDiff {
  changes: FileChange[];
  /** More than `maxChanges` files changed: `changes` holds only some of them. */
  truncated: boolean;
}

/** Files listed per commit at most: a commit that rewrites a million files is still one bounded event. */
export const MAX_CHANGES = 10_000;
/** Deeper than any path the API accepts (4096 bytes); only a malicious tree gets here. */
const MAX_LEVELS = 2048;

interface Work {
  pair: number;
  dir: string;
  before: string | null;
  after: string | null;
}

const isFile = (e: TreeEntry | undefined): boolean => e !== undefined && (e.mode.startsWith('10') || e.mode === '120000');
const isDir = (e: TreeEntry | undefined): boolean => e !== undefined && isTreeMode(e.mode);

/** Whether anything below directory `dir` (ending in '/') can start with `prefix`. */
function reaches(dir: string, prefix: string): boolean {
  return dir.startsWith(prefix) || prefix.startsWith(dir);
}

export async function diffTrees(pairs: readonly TreePair[], load: TreeBatchLoader, prefix = '',
  maxChanges = MAX_CHANGES): Promise<TreeDiff[]> {
  const out: TreeDiff[] = pairs.map(() => ({ changes: [], truncated: false }));
  let work: Work[] = pairs.map((p, pair) => ({ pair, dir: '', before: p.before, after: p.after }))
    .filter((w) => w.before !== w.after);
  for (let level = 0; work.length > 0; level++) {
    if (level >= MAX_LEVELS) throw new Error(`trees nested deeper than ${MAX_LEVELS} levels`);
    const ids = [...new Set(work.flatMap((w) => [w.before, w.after]).filter((t): t is string => t !== null))];
    const trees = await load(ids);
    const decoded = new Map<string, TreeEntry[]>();
    const entriesOf = (oid: string | null): TreeEntry[] => {
      if (oid === null) return [];
      let entries = decoded.get(oid);
      if (entries === undefined) {
        const data = trees.get(oid);
        if (data === undefined) throw new Error(`tree ${oid} was not loaded`);
        entries = decodeTree(data, { maxEntries: MAX_TREE_ENTRIES });
        decoded.set(oid, entries);
      }
      return entries;
    };
    const next: Work[] = [];
    for (const w of work) {
      const diff = out[w.pair]!;
      if (diff.truncated) continue;
      const add = (c: FileChange): void => {
        if (!c.path.startsWith(prefix)) return;
        if (diff.changes.length >= maxChanges) diff.truncated = true;
        else diff.changes.push(c);
      };
      const byName = new Map<string, { b?: TreeEntry; a?: TreeEntry }>();
      for (const e of entriesOf(w.before)) byName.set(e.name.toString('utf8'), { b: e });
      for (const e of entriesOf(w.after)) {
        const name = e.name.toString('utf8');
        const seen = byName.get(name);
        if (seen === undefined) byName.set(name, { a: e });
        else seen.a = e;
      }
      for (const [name, { b, a }] of byName) {
        if (b !== undefined && a !== undefined && b.oid === a.oid && b.mode === a.mode) continue;
        const path = w.dir + name;
        // A file that becomes a directory (or back) is a delete and a create, both reported.
        const bFile = isFile(b) ? b! : undefined;
        const aFile = isFile(a) ? a! : undefined;
        if (bFile !== undefined && aFile !== undefined) add({ path, change: 'modify', etag: aFile.oid });
        else if (bFile !== undefined) add({ path, change: 'delete', etag: null });
        else if (aFile !== undefined) add({ path, change: 'create', etag: aFile.oid });
        const bTree = isDir(b) ? b!.oid : null;
        const aTree = isDir(a) ? a!.oid : null;
        if (bTree !== aTree && reaches(`${path}/`, prefix)) {
          next.push({ pair: w.pair, dir: `${path}/`, before: bTree, after: aTree });
        }
      }
    }
    work = next;
  }
  for (const d of out) d.changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return out;
}
