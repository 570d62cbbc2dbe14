import { PackError } from './errors.js';
import { isOid } from './object.js';

/** One tree entry. The name is raw bytes and the mode is kept exactly as written, so trees roundtrip byte-for-byte. */
export interface TreeEntry {
  mode: string;
  name: Buffer;
  oid: string;
}

export const TREE_MODE = '40000';
export const BLOB_MODE = '100644';
export const EXECUTABLE_MODE = '100755';
export const SYMLINK_MODE = '120000';
export const GITLINK_MODE = '160000';

// Octal digits only; legacy trees contain modes like "100664" or zero-padded "040000".
const MODE_RE = /^[0-7]{1,6}$/;
const SLASH = 0x2f;
const SPACE = 0x20;
const NUL = 0;
const RAW_OID = 20;

/** True for any spelling of the directory mode (040000 type bits), e.g. "40000" or legacy "040000". */
export function isTreeMode(mode: string): boolean {
  return MODE_RE.test(mode) && (parseInt(mode, 8) & 0o170000) === 0o040000;
}

/** Git's tree order: bytewise, where a tree's name compares as if it ended in '/'. */
export function compareTreeEntries(a: TreeEntry, b: TreeEntry): number {
  const len = Math.min(a.name.length, b.name.length);
  const common = Buffer.compare(a.name.subarray(0, len), b.name.subarray(0, len));
  if (common !== 0) return common;
  const ac = a.name.length > len ? a.name[len]! : isTreeMode(a.mode) ? SLASH : NUL;
  const bc = b.name.length > len ? b.name[len]! : isTreeMode(b.mode) ? SLASH : NUL;
  return ac === bc ? 0 : ac < bc ? -1 : 1;
}

function nameProblem(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.includes(SLASH)) return 'name contains /';
  if (name.includes(NUL)) return 'name contains NUL';
  if (name.length === 1 && name[0] === 0x2e) return 'name is .';
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return 'name is ..';
  return undefined;
}

function checkEntry(e: TreeEntry): void {
  if (!MODE_RE.test(e.mode)) throw new PackError('bad-object', `invalid tree entry mode ${JSON.stringify(e.mode)}`);
  const problem = nameProblem(e.name);
  if (problem) throw new PackError('bad-object', `invalid tree entry: ${problem}`);
  if (!isOid(e.oid)) throw new PackError('bad-object', `invalid tree entry oid ${JSON.stringify(e.oid)}`);
}

/** Serializes entries in Git order. Rejects invalid names, modes, oids and duplicate names. */
export function encodeTree(entries: readonly TreeEntry[]): Buffer {
  entries.forEach(checkEntry);
  const sorted = [...entries].sort(compareTreeEntries);
  const seen = new Set<string>();
  let size = 0;
  for (const e of sorted) {
    const key = e.name.toString('latin1');
    if (seen.has(key)) throw new PackError('bad-object', `duplicate tree entry ${JSON.stringify(key)}`);
    seen.add(key);
    size += e.mode.length + 1 + e.name.length + 1 + RAW_OID;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const e of sorted) {
    pos += out.write(e.mode, pos, 'latin1');
    out[pos++] = SPACE;
    pos += e.name.copy(out, pos);
    out[pos++] = NUL;
    pos += out.write(e.oid, pos, 'hex');
  }
  return out;
}

/**
 * Parses a tree strictly: malformed modes, names or oids, truncation, duplicates and
 * entries out of Git order all throw PackError.
 */
export function decodeTree(data: Uint8Array, limits: { maxEntries?: number } = {}): TreeEntry[] {
  const maxEntries = limits.maxEntries ?? Infinity;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const entries: TreeEntry[] = [];
  const seen = new Set<string>();
  let pos = 0;
  while (pos < buf.length) {
    if (entries.length >= maxEntries) throw new PackError('too-large', `tree has more than ${maxEntries} entries`);
    const space = buf.indexOf(SPACE, pos);
    if (space < 0) throw new PackError('bad-object', `tree entry at byte ${pos} has no mode terminator`);
    const mode = buf.toString('latin1', pos, space);
    if (!MODE_RE.test(mode)) throw new PackError('bad-object', `tree entry at byte ${pos} has invalid mode`);
    const nul = buf.indexOf(NUL, space + 1);
    if (nul < 0) throw new PackError('bad-object', `tree entry at byte ${pos} has no name terminator`);
    if (nul + 1 + RAW_OID > buf.length) throw new PackError('bad-object', `tree entry at byte ${pos} is truncated`);
    const entry: TreeEntry = {
      mode,
      name: Buffer.from(buf.subarray(space + 1, nul)),
      oid: buf.toString('hex', nul + 1, nul + 1 + RAW_OID),
    };
    const problem = nameProblem(entry.name);
    if (problem) throw new PackError('bad-object', `tree entry at byte ${pos}: ${problem}`);
    const key = entry.name.toString('latin1');
    if (seen.has(key)) throw new PackError('bad-object', `duplicate tree entry ${JSON.stringify(key)}`);
    const prev = entries[entries.length - 1];
    if (prev && compareTreeEntries(prev, entry) >= 0) {
      throw new PackError('bad-object', `tree entries out of order at ${JSON.stringify(key)}`);
    }
    seen.add(key);
    entries.push(entry);
    pos = nul + 1 + RAW_OID;
  }
  return entries;
}
