/**
 * The Git-backed store: each resource is a file on one branch of a remote repository.
 *
 * Reads learn the tip from the remote every time (strong consistency), then walk the trees on the path and
 * fetch the blob; trees and small blobs come from a byte-bounded cache of immutable objects when they can.
 * Writes go through a queue (see WriteQueue): a batch of writes becomes a chain of commits, one per write,
 * pushed in one pack with the last known tip as the expected old id. The remote's check of that old id is
 * what makes concurrent writers, in this process or elsewhere, safe.
 */
import { decodeCommit, encodeCommit, type Identity } from '../pack/commit.js';
import { hashObject } from '../pack/oid.js';
import { ZERO_OID, type ObjectType } from '../pack/object.js';
import { readSingleObjectPack, type PackObject, type StreamedObject } from '../pack/pack-reader.js';
import { writePack } from '../pack/pack-writer.js';
import { Remote, type RemoteOptions } from '../protocol/remote.js';
import { ObjectCache } from './object-cache.js';
import { lookupPath } from './tree-edit.js';
import { stageBody, type StagedBlob } from './staged-blob.js';
import { StoreError, type BodySource, type ReadResult, type Store, type WriteResult } from './store.js';
import { WriteQueue, type PushObject, type WriteOp, type Snapshot } from './write-queue.js';
import { toStoreError } from './errors.js';
import { releasing } from './release-stream.js';

export interface GitStoreOptions {
  remote: RemoteOptions;
  branch: string;
  author: { name: string; email: string };
  /** Commit message for a write; defaults to "<METHOD> <path>". */
  message?: (method: 'POST' | 'PUT' | 'DELETE', path: string) => string;
  maxBodyBytes: number;
  /** Bodies above this are spooled to a temporary file while they are read. */
  spoolThreshold?: number;
  cacheBytes?: number;
  /** Blobs up to this size are cached. */
  cacheBlobBytes?: number;
  /** Bounds for the retry of a write whose push lost the race for the branch. */
  maxAttempts?: number;
  writeDeadlineMs?: number;
  maxBatch?: number;
  now?: () => Date;
}

export class GitStore implements Store {
  readonly remote: Remote;
  readonly cache: ObjectCache;
  readonly #ref: string;
  readonly #opts: GitStoreOptions;
  readonly #queue: WriteQueue;
  /** The last tip this process saw or made; a write starts from it without asking the remote first. */
  #tip: string | null | undefined = undefined;

  constructor(opts: GitStoreOptions) {
    this.#opts = opts;
    this.#ref = `refs/heads/${opts.branch}`;
    this.remote = new Remote(opts.remote);
    this.cache = new ObjectCache(opts.cacheBytes ?? 32 * 1024 * 1024);
    this.#queue = new WriteQueue({
      snapshot: (refresh) => this.#snapshot(refresh),
      loadTree: (oid) => this.#loadTree(oid),
      push: (from, to, objects) => this.#push(from, to, objects),
      makeCommit: (tree, parent, op) => this.#makeCommit(tree, parent, op.method, op.path),
      maxAttempts: opts.maxAttempts ?? 8,
      deadlineMs: opts.writeDeadlineMs ?? 60_000,
      maxBatch: opts.maxBatch ?? 64,
    });
  }

  get #cacheBlobBytes(): number {
    return this.#opts.cacheBlobBytes ?? 64 * 1024;
  }

  get branchRef(): string {
    return this.#ref;
  }

  async get(path: string): Promise<ReadResult> {
    try {
      const tip = await this.#readTip();
      if (tip === null) throw new StoreError('not-found', `no file at ${path}`, `branch ${this.#opts.branch} does not exist yet`);
      const root = await this.#rootTree(tip);
      const found = await lookupPath((oid) => this.#loadTree(oid), root, path.split('/'));
      if (found.kind !== 'file') throw new StoreError('not-found', `no file at ${path}`);
      return { ...(await this.#readBlob(found.oid)), commit: tip };
    } catch (err) {
      throw toStoreError(err);
    }
  }

  create(path: string, body: BodySource): Promise<WriteResult> {
    return this.#write('POST', path, body);
  }

  replace(path: string, body: BodySource): Promise<WriteResult> {
    return this.#write('PUT', path, body);
  }

  remove(path: string): Promise<WriteResult> {
    return this.#write('DELETE', path, null);
  }

  async close(): Promise<void> {
    await this.#queue.drain();
    await this.remote.close();
    this.cache.clear();
  }

  async #write(method: WriteOp['method'], path: string, body: BodySource | null): Promise<WriteResult> {
    let blob: StagedBlob | undefined;
    try {
      if (body !== null) {
        blob = await stageBody(body, {
          maxBytes: this.#opts.maxBodyBytes,
          memoryThreshold: this.#opts.spoolThreshold ?? 8 * 1024 * 1024,
        });
      }
      return await this.#queue.submit({ method, path, segments: path.split('/'), blob });
    } catch (err) {
      throw toStoreError(err);
    } finally {
      await blob?.dispose();
    }
  }

  /** One round trip: the branch tip as the remote has it now, which is also the best base for the next write. */
  async #readTip(): Promise<string | null> {
    const refs = await this.remote.lsRefs([this.#ref]);
    this.#tip = refs.refs.get(this.#ref) ?? null;
    return this.#tip;
  }

  /** The state a write batch starts from: the last known tip, or the remote's when asked to refresh. */
  async #snapshot(refresh: boolean): Promise<Snapshot> {
    const tip = refresh || this.#tip === undefined ? await this.#readTip() : this.#tip;
    return { tip, root: tip === null ? null : await this.#rootTree(tip) };
  }

  async #rootTree(commit: string): Promise<string> {
    let data = this.cache.get(commit);
    if (data === undefined) {
      // The commit and its root tree in one request: depth 1 keeps history out, tree:1 keeps subtrees out.
      const objects = await this.#fetch([commit], { depth: 1, filter: 'tree:1' });
      data = objects.get(commit)?.data;
      if (data === undefined) throw new StoreError('upstream', `the git host did not send commit ${commit}`);
      this.cache.set(commit, data);
    }
    return decodeCommit(data).tree;
  }

  async #loadTree(oid: string): Promise<Buffer> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return cached;
    const objects = await this.#fetch([oid], { filter: 'tree:0' });
    const tree = objects.get(oid);
    if (tree === undefined || tree.type !== 'tree') throw new StoreError('upstream', `the git host did not send tree ${oid}`);
    return tree.data;
  }

  /**
   * A blob's content: from the cache, or fetched by id. A small blob is read whole and cached; a large one
   * is streamed from the response, so a file of any size passes through bounded memory.
   */
  async #readBlob(oid: string): Promise<{ size: number; stream: AsyncIterable<Uint8Array> }> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return { size: cached.length, stream: bufferStream(cached) };
    const info = await this.remote.fetchPack({ wants: [oid] });
    let blob: StreamedObject;
    try {
      blob = await readSingleObjectPack(info.pack, oid);
      if (blob.type !== 'blob') throw new StoreError('not-found', `object ${oid} is a ${blob.type}, not a file`);
    } catch (err) {
      info.close();
      throw err;
    }
    if (blob.size > this.#cacheBlobBytes) {
      const stream = releasing(mapErrors(blob.stream), () => info.close());
      return { size: blob.size, stream };
    }
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of blob.stream) chunks.push(chunk);
      const data = Buffer.concat(chunks, blob.size);
      this.cache.set(oid, data);
      return { size: data.length, stream: bufferStream(data) };
    } finally {
      info.close();
    }
  }

  /** Fetches objects by id; trees and commits that come along are cached, since every one is immutable. */
  async #fetch(wants: string[], opts: { depth?: number; filter?: string }): Promise<Map<string, PackObject>> {
    const out = new Map<string, PackObject>();
    for await (const obj of this.remote.fetch({ wants, ...opts })) {
      out.set(obj.oid, obj);
      if (obj.type === 'tree' || obj.type === 'commit') this.cache.set(obj.oid, obj.data);
    }
    return out;
  }

  #makeCommit(tree: string, parent: string | null, method: WriteOp['method'], path: string): { oid: string; data: Buffer } {
    const when = (this.#opts.now ?? (() => new Date()))();
    const who: Identity = {
      name: this.#opts.author.name,
      email: this.#opts.author.email,
      timestamp: Math.floor(when.getTime() / 1000),
      timezone: '+0000',
    };
    const message = (this.#opts.message ?? ((m, p) => `${m} ${p}`))(method, path);
    const data = encodeCommit({
      tree,
      parents: parent === null ? [] : [parent],
      author: who,
      committer: who,
      message: message.endsWith('\n') ? message : `${message}\n`,
    });
    return { oid: hashObject('commit', data), data };
  }

  /**
   * Pushes `to` over `from` with the objects it needs. Returns false when the remote refused because the
   * branch moved (the caller refreshes and retries); throws on any other failure.
   */
  async #push(from: string | null, to: string, objects: PushObject[]): Promise<boolean> {
    const result = await this.remote.push(
      [{ ref: this.#ref, oldOid: from ?? ZERO_OID, newOid: to }],
      packOf(objects),
    );
    const ref = result.refs.find((r) => r.ref === this.#ref);
    if (result.ok && ref?.status === 'ok') {
      this.#tip = to;
      // What we just wrote is what the next requests will read: keep the trees, the commits and small blobs.
      for (const o of objects) {
        if (!Buffer.isBuffer(o.data)) continue;
        if (o.type !== 'blob' || o.size <= this.#cacheBlobBytes) this.cache.set(o.oid, o.data);
      }
      return true;
    }
    if (ref?.status === 'ref-moved') {
      this.#tip = undefined;
      return false;
    }
    const why = ref?.status === 'error' ? ref.message : result.unpack;
    throw new StoreError('upstream', 'the git host refused the push', why);
  }
}

function packOf(objects: PushObject[]): AsyncGenerator<Buffer> {
  return writePack(
    objects.length,
    objects.map((o) => ({ type: o.type, size: o.size, data: Buffer.isBuffer(o.data) ? o.data : o.data() })),
  );
}


/** Errors surfacing mid-stream (a corrupt or cut pack) become store errors like any other. */
async function* mapErrors(stream: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* stream;
  } catch (err) {
    throw toStoreError(err);
  }
}

async function* bufferStream(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}
