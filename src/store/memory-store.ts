// An in-memory Store with the same contract as the Git-backed one: files live in a Map keyed by path, and
// directories exist only implicitly, as prefixes of file paths (as in a Git tree, a path is either a file or a
// directory, never both). Meant for tests and demos.

import { createHash } from 'node:crypto';
import {
  StoreError, type BodySource, type ConditionalRead, type ConditionalReadOptions, type ListEntry, type Listing, type ListOptions,
  type ReadOptions, type ReadResult, type Store, type WriteCondition, type WriteResult,
} from './store.js';
import { hashObject } from '../pack/oid.js';
import { BLOB_MODE, compareTreeEntries, TREE_MODE, type TreeEntry } from '../pack/tree.js';
import { checkRef, unknownRef } from './listing.js';
import { resolveMemoryStoreOptions, type MemoryStoreOptions } from './options.js';
import { notFound, writeRefusal, type PathMethod, type PathState } from './refusals.js';

export type { MemoryStoreOptions } from './options.js';

export class MemoryStore implements Store {
  private readonly files = new Map<string, Uint8Array>();
  /** path → the blob id of its content, as Git would name it: the ETag both stores answer. */
  private readonly etags = new Map<string, string>();
  /** directory path → number of files below it; a directory exists while its count is > 0. */
  private readonly dirs = new Map<string, number>();
  private readonly maxBodyBytes: number;
  private readonly chunkBytes: number;
  private head = '0'.repeat(40);
  private commits = 0;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    const resolved = resolveMemoryStoreOptions(opts);
    this.maxBodyBytes = resolved.maxBodyBytes;
    this.chunkBytes = resolved.chunkBytes;
  }

  /** Number of commits made so far (one per successful write). */
  get commitCount(): number {
    return this.commits;
  }

  /** The stored file paths, sorted. */
  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  async get(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    const read = await this.read(path, { ...opts, want: () => 'content' });
    if (read.want !== 'content') throw new Error('a read that wanted content got none');
    return read;
  }

  async read(path: string, opts: ConditionalReadOptions): Promise<ConditionalRead> {
    this.checkOpen();
    checkPath(path);
    this.checkRef(opts.ref);
    this.check('GET', path);
    const data = this.files.get(path)!;
    const version = { etag: this.etags.get(path)!, commit: this.head };
    const want = opts.want(version);
    if (want === 'none') return { ...version, want };
    if (want === 'size') return { ...version, want, size: data.byteLength };
    return { ...version, want, size: data.byteLength, stream: chunksOf(data, this.chunkBytes) };
  }

  /**
   * A listing of what is there now. The memory store keeps no old versions: `commit` is its current (made-up)
   * head id, the only ref it knows, and a cursor continues after the last name it returned in the current
   * state (a page read after a write may show the write), while the Git store reads every page at one commit.
   */
  async list(dir: string, opts: ListOptions): Promise<Listing> {
    this.checkOpen();
    if (dir !== '') checkPath(dir);
    this.checkRef(opts.ref);
    const prefix = dir === '' ? '' : `${dir}/`;
    if (dir !== '' && !this.dirs.has(dir)) {
      throw notFound(prefix, this.files.has(dir) ? `${dir} is a file, not a directory` : undefined);
    }
    const entries = this.entriesBelow(prefix, opts.recursive === true);
    let at = 0;
    if (opts.cursor !== undefined) {
      const after = decodeMemoryCursor(opts.cursor);
      while (at < entries.length && compareTreeEntries(entries[at]!.sortKey, after) <= 0) at++;
    }
    const page = entries.slice(at, at + opts.limit);
    const more = at + opts.limit < entries.length;
    const last = page[page.length - 1];
    return {
      path: prefix === '' ? '/' : prefix, commit: this.head, entries: page.map((e) => e.entry), truncated: more,
      next: more && last !== undefined ? encodeMemoryCursor(last.sortKey) : null,
    };
  }

  /** The entries of `prefix` (or every file below it), in Git's tree order, each with the key it sorts by. */
  private entriesBelow(prefix: string, recursive: boolean): Array<{ entry: ListEntry; sortKey: TreeEntry }> {
    const out = new Map<string, { entry: ListEntry; sortKey: TreeEntry }>();
    for (const [path, data] of this.files) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      const isDir = !recursive && slash !== -1;
      const name = isDir ? rest.slice(0, slash) : rest;
      if (out.has(name)) continue;
      const sortKey: TreeEntry = { mode: isDir ? TREE_MODE : BLOB_MODE, name: Buffer.from(name, 'utf8'), oid: '' };
      const entry: ListEntry = isDir
        ? { name, path: `${prefix}${name}/`, type: 'dir', mode: TREE_MODE }
        : { name: recursive ? name.slice(name.lastIndexOf('/') + 1) : name, path, type: 'file',
          etag: this.etags.get(path)!, mode: BLOB_MODE, size: data.byteLength };
      out.set(name, { entry, sortKey });
    }
    // Recursive keys are whole relative paths, so ordering them as blobs puts "a/b" after "a.txt" as Git does.
    return [...out.values()].sort((a, b) => compareTreeEntries(a.sortKey, b.sortKey));
  }

  /** The only ref a memory store has is its current head id. */
  private checkRef(ref: string | undefined): void {
    if (ref === undefined) return;
    checkRef(ref);
    if (ref !== this.head) throw unknownRef(ref, 'the memory store keeps no history: only its current commit id is a ref');
  }

  async create(path: string, body: BodySource): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    this.check('POST', path); // fail fast, before reading the body
    const data = await this.readBody(body);
    this.check('POST', path); // again: the map may have changed while the body streamed in
    return this.put(path, data, 'create');
  }

  async replace(path: string, body: BodySource, condition?: WriteCondition): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    this.check('PUT', path, condition);
    const data = await this.readBody(body);
    this.check('PUT', path, condition);
    const etag = hashObject('blob', data);
    if (this.etags.get(path) === etag) return { commit: this.head, retries: 0, etag, unchanged: true };
    if (!this.files.has(path)) return { ...this.put(path, data, 'create'), created: true };
    return this.put(path, data, 'replace');
  }

  async remove(path: string, condition?: WriteCondition): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    this.check('DELETE', path, condition);
    this.files.delete(path);
    this.etags.delete(path);
    for (const dir of parentsOf(path)) {
      const n = (this.dirs.get(dir) ?? 1) - 1;
      if (n > 0) this.dirs.set(dir, n);
      else this.dirs.delete(dir);
    }
    return this.commit('remove', path);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('unavailable', 'the store is closed');
  }

  /** Throws what `method` is refused with at `path` (see refusals.ts), if anything. */
  private check(method: PathMethod, path: string, condition?: WriteCondition): void {
    const refused = writeRefusal(method, path, this.stateOf(path), condition);
    if (refused !== null) throw refused;
  }

  /** Stores `data` at `path` (new or replaced) and makes the commit. */
  private put(path: string, data: Uint8Array, op: 'create' | 'replace'): WriteResult {
    if (!this.files.has(path)) for (const dir of parentsOf(path)) this.dirs.set(dir, (this.dirs.get(dir) ?? 0) + 1);
    const etag = hashObject('blob', data);
    this.files.set(path, data);
    this.etags.set(path, etag);
    return { ...this.commit(op, path), etag };
  }

  private stateOf(path: string): PathState {
    const etag = this.etags.get(path);
    if (etag !== undefined) return { kind: 'file', oid: etag };
    if (this.dirs.has(path)) return { kind: 'dir' };
    const blockedBy = parentsOf(path).find((dir) => this.files.has(dir));
    return blockedBy === undefined ? { kind: 'absent' } : { kind: 'absent', blockedBy };
  }

  private async readBody(body: BodySource): Promise<Uint8Array> {
    if (body.length !== undefined && body.length > this.maxBodyBytes) throw this.tooLarge();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of body.stream) {
      total += chunk.byteLength;
      if (total > this.maxBodyBytes) throw this.tooLarge();
      chunks.push(chunk);
    }
    if (body.length !== undefined && body.length !== total) {
      throw new StoreError('bad-request', `the body had ${total} bytes but Content-Length said ${body.length}`);
    }
    return concat(chunks, total);
  }

  private tooLarge(): StoreError {
    return new StoreError('too-large', `the body is larger than the ${this.maxBodyBytes}-byte limit`);
  }

  private commit(op: string, path: string): WriteResult {
    this.commits++;
    // A fake but well-formed commit id: it chains the previous one so every write yields a new id.
    this.head = createHash('sha1').update(`${this.head}\0${this.commits}\0${op}\0${path}`).digest('hex');
    return { commit: this.head, retries: 0 };
  }
}

/** The store must not trust its caller: refuse anything that is not a normalized relative path. */
function checkPath(path: string): void {
  if (path === '' || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new StoreError('bad-request', `invalid path ${JSON.stringify(path)}`);
  }
}

/** 'a/b/c' → ['a', 'a/b'] */
function parentsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, Math.min(at + size, data.byteLength));
}

function encodeMemoryCursor(after: TreeEntry): string {
  return Buffer.from(`${after.mode === TREE_MODE ? 'd' : 'f'}:${after.name.toString('utf8')}`, 'utf8').toString('base64url');
}

function decodeMemoryCursor(text: string): TreeEntry {
  const raw = /^[A-Za-z0-9_-]{1,8000}$/.test(text) ? Buffer.from(text, 'base64url').toString('utf8') : '';
  const m = /^([df]):(.+)$/s.exec(raw);
  if (m === null) {
    throw new StoreError('bad-request', 'the cursor is not one this server gave out',
      'pass the "next" value of the previous page unchanged, or leave cursor out to start from the beginning');
  }
  return { mode: m[1] === 'd' ? TREE_MODE : BLOB_MODE, name: Buffer.from(m[2]!, 'utf8'), oid: '' };
}
