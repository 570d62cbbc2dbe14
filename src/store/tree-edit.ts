/**
 * Path lookups and edits over Git trees, given a way to load a tree by id.
 *
 * An edit rewrites only the trees on the edited path, from the leaf up to the root; every other entry of
 * every tree is carried over as decoded (raw name bytes, mode string and id), so it is re-encoded byte-for-byte.
 */
import { hashObject } from '../pack/oid.js';
import { TREE_MODE, decodeTree, encodeTree, isTreeMode, type TreeEntry } from '../pack/tree.js';

/** Bound on the entries of one tree read from the remote: a directory of a million files is still served. */
export const MAX_TREE_ENTRIES = 1_000_000;

export const EMPTY_TREE_OID = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Loads the raw bytes of a tree object by id. */
export type TreeLoader = (oid: string) => Promise<Buffer>;

export interface NewTree {
  oid: string;
  data: Buffer;
}

/** What a path names in a tree: a file (blob or symlink), a directory, something else, or nothing. */
export type Lookup =
  | { kind: 'file'; mode: string; oid: string }
  | { kind: 'dir'; oid: string }
  | { kind: 'other'; mode: string; oid: string } // a submodule (gitlink)
  | { kind: 'absent'; blockedBy?: string }; // blockedBy: a prefix of the path is a file, so the path cannot exist

const isFileMode = (mode: string): boolean => mode.startsWith('10') || mode === '120000';

function findEntry(entries: readonly TreeEntry[], name: Buffer): TreeEntry | undefined {
  return entries.find((e) => e.name.equals(name));
}

export async function lookupPath(load: TreeLoader, root: string | null, segments: readonly string[]): Promise<Lookup> {
  let tree = root;
  for (let i = 0; i < segments.length; i++) {
    if (tree === null) return { kind: 'absent' };
    const entry = findEntry(decodeTree(await load(tree), { maxEntries: MAX_TREE_ENTRIES }), Buffer.from(segments[i]!, 'utf8'));
    if (entry === undefined) return { kind: 'absent' };
    const last = i === segments.length - 1;
    if (isTreeMode(entry.mode)) {
      if (last) return { kind: 'dir', oid: entry.oid };
      tree = entry.oid;
      continue;
    }
    if (last) {
      return isFileMode(entry.mode)
        ? { kind: 'file', mode: entry.mode, oid: entry.oid }
        : { kind: 'other', mode: entry.mode, oid: entry.oid };
    }
    return { kind: 'absent', blockedBy: segments.slice(0, i + 1).join('/') };
  }
  return root === null ? { kind: 'absent' } : { kind: 'dir', oid: root };
}

/**
 * Sets (`change` = {mode, oid}) or removes (`change` = null) the entry at `segments`, creating intermediate
 * directories and dropping directories that become empty. Returns the new root tree id (the empty tree when
 * the last file goes) and the trees that had to be written, root last.
 */
export async function editPath(
  load: TreeLoader,
  root: string | null,
  segments: readonly string[],
  change: { mode: string; oid: string } | null,
): Promise<{ root: string; trees: NewTree[] }> {
  const trees: NewTree[] = [];
  const rewrite = async (tree: string | null, depth: number): Promise<string | null> => {
    const entries = tree === null ? [] : decodeTree(await load(tree), { maxEntries: MAX_TREE_ENTRIES });
    const name = Buffer.from(segments[depth]!, 'utf8');
    const index = entries.findIndex((e) => e.name.equals(name));
    const existing = index >= 0 ? entries[index] : undefined;
    let replacement: TreeEntry | null;
    if (depth === segments.length - 1) {
      replacement = change === null ? null : { mode: change.mode, name, oid: change.oid };
    } else {
      const child = existing !== undefined && isTreeMode(existing.mode) ? existing.oid : null;
      const childOid = await rewrite(child, depth + 1);
      replacement = childOid === null ? null : { mode: TREE_MODE, name, oid: childOid };
    }
    if (index >= 0) entries.splice(index, 1);
    if (replacement !== null) entries.push(replacement);
    if (entries.length === 0 && depth > 0) return null; // an empty directory does not exist in Git
    const data = encodeTree(entries);
    const oid = hashObject('tree', data);
    trees.push({ oid, data });
    return oid;
  };
  const newRoot = await rewrite(root, 0);
  return { root: newRoot ?? EMPTY_TREE_OID, trees };
}
