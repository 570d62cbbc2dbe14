/**
 * What both stores share for directory listings and reads at a ref: the cursor format, the names a ref may
 * have, and how a tree entry becomes a listing entry. Pure.
 *
 * A cursor is base64url of "<commit>:<position>": the commit the first page was read from, so that every later
 * page reads the same tree however the branch moves, and the index of the next entry in that tree's order.
 */
import { isTreeMode, SYMLINK_MODE, GITLINK_MODE, type TreeEntry } from '../pack/tree.js';
import { StoreError, type ListEntry } from './store.js';

export interface Cursor {
  commit: string;
  position: number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.commit}:${c.position}`, 'utf8').toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  const bad = () => new StoreError('bad-request', 'the cursor is not one this server gave out',
    'pass the "next" value of the previous page unchanged, or leave cursor out to start from the beginning');
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw bad();
  const m = /^([0-9a-f]{40}):(0|[1-9][0-9]{0,9})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (m === null) throw bad();
  return { commit: m[1]!, position: Number(m[2]) };
}

export const isCommitId = (ref: string): boolean => /^[0-9a-f]{40}$/.test(ref);

/** A branch or tag name as git-check-ref-format allows it (short form), or a full commit id; else 400. */
export function checkRef(ref: string): void {
  if (isCommitId(ref)) return;
  const ok = ref.length > 0 && ref.length <= 255 && !/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|^[-/.]|[/.]$|\.lock$|\/\./.test(ref);
  if (!ok) {
    throw new StoreError('bad-request', `${JSON.stringify(ref)} is not a branch name, tag name or commit id`,
      'give ref as a full 40-hex commit id, or a branch or tag name');
  }
}

export function unknownRef(ref: string, detail?: string): StoreError {
  return new StoreError('not-found', `ref ${ref} does not exist`,
    detail ?? 'name a branch, a tag or a full commit id the repository has');
}

export function typeOf(mode: string): ListEntry['type'] {
  if (isTreeMode(mode)) return 'dir';
  if (mode === SYMLINK_MODE) return 'symlink';
  if (mode === GITLINK_MODE) return 'submodule';
  return 'file';
}

/** `prefix` is the directory's path with its trailing '/' ('' for the root). */
export function entryOf(e: TreeEntry, prefix: string, size?: number): ListEntry {
  const name = e.name.toString('utf8');
  const type = typeOf(e.mode);
  const entry: ListEntry = { name, path: prefix + name + (type === 'dir' ? '/' : ''), type, etag: e.oid, mode: e.mode };
  if (size !== undefined && type !== 'dir' && type !== 'submodule') entry.size = size;
  return entry;
}
