// An in-memory Store with the same contract as the Git-backed one: files live in a Map keyed by path, and
// directories exist only implicitly, as prefixes of file paths (as in a Git tree, a path is either a file or a
// directory, never both). Meant for tests and demos.

import { createHash } from 'node:crypto';
import {
  StoreError, type BodySource, type ConditionalRead, type ConditionalReadOptions, type ListEntry, type Listing, type ListOptions,
  type ReadOptions, type ReadResult, type Store, type CommitOperation, type CommitRequest, type WriteCondition, type WriteOptions,
  type WriteResult,
} from './store.js';
import { checkIdempotencyKey, fingerprintOf } from './idempotency.js';
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
  /** Idempotency keys of recent writes, with their request fingerprint and answer. */
  private readonly keys = new Map<string, { fingerprint: string; result: WriteResult }>();
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

  async create(path: string, body: BodySource, opts: WriteOptions = {}): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    // Fail fast, before reading the body (not with a key: a repeat is answered, not refused).
    if (opts.idempotencyKey === undefined) this.check('POST', path);
    const data = await this.readBody(body);
    return this.keyed(opts.idempotencyKey, ['POST', path, hashObject('blob', data)], () => {
      this.check('POST', path); // again: the map may have changed while the body streamed in
      return this.advance(this.put(path, data), 'create', path);
    });
  }

  async replace(path: string, body: BodySource, opts: WriteOptions = {}): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    if (opts.idempotencyKey === undefined) this.check('PUT', path, opts.condition);
    const data = await this.readBody(body);
    return this.keyed(opts.idempotencyKey, ['PUT', path, hashObject('blob', data)], () => {
      this.check('PUT', path, opts.condition);
      const etag = hashObject('blob', data);
      if (this.etags.get(path) === etag) return { commit: this.head, retries: 0, etag, unchanged: true };
      const created = !this.files.has(path);
      return { ...this.advance(this.put(path, data), 'replace', path), ...(created ? { created } : {}) };
    });
  }

  async remove(path: string, opts: WriteOptions = {}): Promise<WriteResult> {
    this.checkOpen();
    checkPath(path);
    return this.keyed(opts.idempotencyKey, ['DELETE', path, ''], () => {
      this.check('DELETE', path, opts.condition);
      this.drop(path);
      return this.advance({}, 'remove', path);
    });
  }

  /** All operations or none: each is checked on the state the ones before it leave, and a refusal undoes them. */
  async commit(request: CommitRequest): Promise<WriteResult> {
    this.checkOpen();
    const fingerprint = request.operations.flatMap((o) => [o.op, o.path, o.from ?? '', o.ifMatch ?? '',
      o.body === undefined ? '' : hashObject('blob', o.body)]);
    return this.keyed(request.idempotencyKey, ['COMMIT', request.message ?? '', request.expectHead ?? '', ...fingerprint], () => {
      if (request.expectHead !== undefined && request.expectHead !== this.head) {
        throw new StoreError('precondition', `the branch is not at ${request.expectHead}`, `its head is ${this.head}`);
      }
      const saved = { files: new Map(this.files), etags: new Map(this.etags), dirs: new Map(this.dirs) };
      const results: Array<{ path: string; etag: string | null }> = [];
      let i = 0;
      try {
        for (; i < request.operations.length; i++) results.push(this.apply(request.operations[i]!));
      } catch (err) {
        for (const [mine, copy] of [[this.files, saved.files], [this.etags, saved.etags], [this.dirs, saved.dirs]] as const) {
          mine.clear();
          for (const [k, v] of copy as Map<string, never>) (mine as Map<string, never>).set(k, v);
        }
        if (!(err instanceof StoreError)) throw err;
        throw new StoreError(err.kind, `operation ${i} (${request.operations[i]!.path}): ${err.message}`, err.detail,
          { ...(err.etag === undefined ? {} : { etag: err.etag }), operation: i });
      }
      return { ...this.advance({}, 'commit', `${request.operations.length} operations`), results };
    });
  }

  /** One operation of a commit, on the current maps (the caller undoes them on a refusal). */
  private apply(o: CommitOperation): { path: string; etag: string | null } {
    checkPath(o.path);
    const condition = o.ifMatch === undefined ? undefined : { ifMatch: [o.ifMatch] };
    if (o.op === 'move') {
      checkPath(o.from!);
      this.check('DELETE', o.from!, condition);
      this.check('POST', o.path);
      const data = this.files.get(o.from!)!;
      this.drop(o.from!);
      return { path: o.path, etag: this.put(o.path, data).etag };
    }
    if (o.op === 'delete') {
      this.check('DELETE', o.path, condition);
      this.drop(o.path);
      return { path: o.path, etag: null };
    }
    const method = o.op === 'create' ? 'POST' : 'PUT';
    const state = this.stateOf(o.path);
    const refused = writeRefusal(method, o.path, state, condition, o.op === 'upsert');
    if (refused !== null) throw refused;
    return { path: o.path, etag: this.put(o.path, o.body ?? new Uint8Array()).etag };
  }

  /**
   * Runs a write under an idempotency key: a repeat of a key whose first write succeeded answers that write's
   * result again (the memory store remembers the last 1000 keys); another request with the key is refused.
   */
  private async keyed(key: string | undefined, parts: string[], write: () => WriteResult): Promise<WriteResult> {
    if (key === undefined) return write();
    checkIdempotencyKey(key);
    const fingerprint = fingerprintOf(parts);
    const prior = this.keys.get(key);
    if (prior !== undefined) {
      if (prior.fingerprint !== fingerprint) {
        throw new StoreError('key-reused', `the Idempotency-Key ${JSON.stringify(key)} was used for another request`,
          'use a new key for a new request');
      }
      return { ...prior.result, repeated: true };
    }
    const result = write();
    if (!result.unchanged) {
      this.keys.set(key, { fingerprint, result });
      if (this.keys.size > 1000) this.keys.delete(this.keys.keys().next().value!);
    }
    return result;
  }

  /** Removes a file; its parent directories go when they hold nothing else. */
  private drop(path: string): void {
    this.files.delete(path);
    this.etags.delete(path);
    for (const dir of parentsOf(path)) {
      const n = (this.dirs.get(dir) ?? 1) - 1;
      if (n > 0) this.dirs.set(dir, n);
      else this.dirs.delete(dir);
    }
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

  /** Stores `data` at `path` (new or replaced). */
  private put(path: string, data: Uint8Array): { etag: string } {
    if (!this.files.has(path)) for (const dir of parentsOf(path)) this.dirs.set(dir, (this.dirs.get(dir) ?? 0) + 1);
    const etag = hashObject('blob', data);
    this.files.set(path, data);
    this.etags.set(path, etag);
    return { etag };
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

  /** Makes the (made-up) commit of a write and answers it with `extra`. */
  private advance(extra: { etag?: string }, op: string, path: string): WriteResult {
    this.commits++;
    // A fake but well-formed commit id: it chains the previous one so every write yields a new id.
    this.head = createHash('sha1').update(`${this.head}\0${this.commits}\0${op}\0${path}`).digest('hex');
    return { commit: this.head, retries: 0, ...extra };
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
