/**
 * The Git store's listings and ref names: a directory's entries (or every file below it) from its trees, one
 * page of them, and a branch or tag name resolved to its commit.
 */
import { decodeTree, isTreeMode, type TreeEntry } from '../pack/tree.js';
import type { Remote } from '../protocol/remote.js';
import { encodeCursor, entryOf, unknownRef } from './listing.js';
import type { BlobSizes } from './blob-sizes.js';
import type { ObjectCache } from './object-cache.js';
import type { ListEntry, Listing } from './store.js';
import { MAX_TREE_ENTRIES } from './tree-edit.js';

export interface TreeSource {
  cache: ObjectCache;
  /** Sizes of blobs known without their content (a listing gives `size` when the cache or these know it). */
  sizes: BlobSizes;
  remote: Remote;
  /** Whether the server serves trees by id (else loadTree fetches a tip and nothing is gained by bulk). */
  byId: boolean;
  /** A tree by id, from the cache or fetched alone. */
  loadTree(oid: string): Promise<Buffer>;
  signal: AbortSignal;
}

/** The entries of the tree `oid`, or (`recursive`) every file below it, depth first in tree order as `git ls-tree -r`. */
export async function entriesBelow(src: TreeSource, oid: string, prefix: string, recursive: boolean): Promise<ListEntry[]> {
  if (!recursive) return decodeTree(await src.loadTree(oid), { maxEntries: MAX_TREE_ENTRIES }).map((e) => sized(src, e, prefix));
  const load = bulkLoader(src, oid);
  const out: ListEntry[] = [];
  const visit = async (tree: string, under: string): Promise<void> => {
    for (const e of decodeTree(await load(tree), { maxEntries: MAX_TREE_ENTRIES })) {
      if (isTreeMode(e.mode)) await visit(e.oid, `${under}${e.name.toString('utf8')}/`);
      else out.push(sized(src, e, under));
    }
  };
  await visit(oid, prefix);
  return out;
}

/**
 * Loads trees below `top`: the first one not in the cache brings every tree below `top` in one request (no
 * blobs), so a deep directory is not one round trip per subdirectory. They are kept here as well as in the
 * cache, which may be too small to hold them all.
 */
function bulkLoader(src: TreeSource, top: string): (oid: string) => Promise<Buffer> {
  const fetched = new Map<string, Buffer>();
  let bulk = false;
  return async (tree) => {
    const have = fetched.get(tree) ?? src.cache.get(tree);
    if (have !== undefined) return have;
    if (!bulk && src.byId) {
      bulk = true;
      for await (const o of src.remote.fetch({ wants: [top], filter: 'blob:none' }, { signal: src.signal })) {
        if (o.type !== 'tree') continue;
        fetched.set(o.oid, o.data);
        src.cache.set(o.oid, o.data);
      }
    }
    return fetched.get(tree) ?? src.loadTree(tree);
  };
}

/** A listing entry; a blob's size is given when the blob is cached (it costs no round trip then). */
function sized(src: TreeSource, e: TreeEntry, prefix: string): ListEntry {
  if (isTreeMode(e.mode)) return entryOf(e, prefix);
  return entryOf(e, prefix, src.cache.has(e.oid) ? src.cache.get(e.oid)?.length : src.sizes.get(e.oid));
}

/** Entries [at, at + limit) of `all`, read at `commit`, with the cursor to the rest. */
export function pageOf(all: readonly ListEntry[], prefix: string, commit: string, at: number, limit: number): Listing {
  const end = at + limit;
  const more = end < all.length;
  return {
    path: prefix === '' ? '/' : prefix, commit, entries: all.slice(at, end), truncated: more,
    next: more ? encodeCursor({ commit, position: end }) : null,
  };
}

/**
 * A tag or branch name → its commit, with one ls-refs limited to the two candidate refs. A tag is taken before
 * a branch of the same name, as Git resolves a short name; an annotated tag is peeled to its commit.
 */
export async function resolveName(remote: Remote, ref: string, signal: AbortSignal): Promise<string> {
  const names = [`refs/tags/${ref}`, `refs/heads/${ref}`];
  const list = await remote.lsRefs(names, { signal });
  for (const name of names) {
    const oid = list.peeled.get(name) ?? list.refs.get(name);
    if (oid !== undefined) return oid;
  }
  throw unknownRef(ref);
}
