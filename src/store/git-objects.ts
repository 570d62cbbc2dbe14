/**
 * The Git store's access to immutable objects: commits, trees and blobs by id, from the byte-bounded cache
 * when it holds them and fetched from the remote when not, and the sizes of blobs (remembered apart from
 * their content, so a HEAD can be answered without the blob).
 *
 * A server that serves only ref tips (FetchStrategy 'tip-only': protocol v0 without allow-*-sha1-in-want)
 * cannot be asked for a tree or a blob by id: such an object comes with a fetch of a tip commit that holds it
 * (`at`, else the newest tip known), depth 1, with its whole tree. Everything small of that pack is kept in the
 * cache, so a cold start costs one such fetch and later reads of unchanged paths cost none.
 */
import { decodeCommit } from '../pack/commit.js';
import { readSingleObjectPack, type PackObject, type StreamedObject } from '../pack/pack-reader.js';
import { releasing } from '../pack/release-stream.js';
import type { FetchStrategy, Remote } from '../protocol/remote.js';
import { BlobSizes } from './blob-sizes.js';
import type { CacheWriter, DiskCache } from './disk-cache.js';
import { toStoreError } from './errors.js';
import type { ObjectCache } from './object-cache.js';
import { StoreError } from './store.js';
import type { PushObject } from './write-plan.js';

export interface GitObjectsOptions {
  /** Blobs up to this size are kept in the cache; larger ones stream through. */
  cacheBlobBytes: number;
  /** How many blob sizes are remembered. */
  blobSizes: number;
  /** The newest branch tip known: where a tip-only server is asked for an object no read names a commit for. */
  knownTip(): string | null | undefined;
  /** Told once, when the server's fetch strategy is first learned. */
  onStrategy?(strategy: FetchStrategy): void;
  /** Where blobs larger than `cacheBlobBytes` are kept on disk; unset: nowhere, they are fetched every time. */
  disk?: DiskCache;
}

/** A blob's content as a read gets it; `range` when the bytes can be read in part without reading the rest. */
export interface BlobRead {
  size: number;
  stream: AsyncIterable<Uint8Array>;
  range?: (start: number, end: number) => AsyncIterable<Uint8Array>;
}

export class GitObjects {
  readonly sizes: BlobSizes;
  #strategy: FetchStrategy | undefined;

  /** Commits being fetched with their root trees (rootTree), by id. */
  readonly #arriving = new Map<string, Promise<Buffer | undefined>>();

  constructor(readonly remote: Remote, readonly cache: ObjectCache, private readonly opts: GitObjectsOptions) {
    this.sizes = new BlobSizes(opts.blobSizes);
  }

  async rootTree(commit: string, signal?: AbortSignal): Promise<string> {
    let data = this.cache.get(commit);
    if (data === undefined) {
      // The commit and its root tree in one request: depth 1 keeps history out, tree:1 keeps subtrees out.
      const fetching = this.fetch([commit], { depth: 1, filter: 'tree:1' }, signal).then((objects) => objects.get(commit)?.data);
      this.#arriving.set(commit, fetching);
      try {
        data = await fetching;
      } finally {
        if (this.#arriving.get(commit) === fetching) this.#arriving.delete(commit);
      }
      if (data === undefined) throw new StoreError('upstream', `the git host did not send commit ${commit}`);
      this.cache.set(commit, data);
    }
    return decodeCommit(data).tree;
  }

  /**
   * The tip of `ref` with its commit and root tree, in one request, when the server takes want-ref; undefined
   * when it does not (the caller looks the tip up, then fetches). What came is cached like any fetch.
   */
  async fetchTip(ref: string, signal?: AbortSignal): Promise<{ tip: string; root: string } | undefined> {
    if ((await this.strategy(signal)) !== 'by-id') return undefined;
    const got = await this.remote.fetchRef(ref, { depth: 1, filter: 'tree:1' }, signal === undefined ? {} : { signal });
    if (got === undefined) return undefined;
    for (const obj of got.objects) this.#keep(obj);
    const commit = got.objects.find((o) => o.oid === got.oid && o.type === 'commit');
    if (commit === undefined) throw new StoreError('upstream', `the git host did not send commit ${got.oid}`);
    return { tip: got.oid, root: decodeCommit(commit.data).tree };
  }

  /**
   * A commit a read is fetching right now (undefined when none is, or when that fetch failed): a background
   * look at the branch waits for it rather than asking the host for the same commit again.
   */
  async arriving(commit: string): Promise<Buffer | undefined> {
    return this.#arriving.get(commit)?.catch(() => undefined);
  }

  /** How this server serves objects; learned with its capabilities (the first exchange tells). */
  async strategy(signal?: AbortSignal): Promise<FetchStrategy> {
    if (this.#strategy !== undefined) return this.#strategy;
    const strategy = await this.remote.fetchStrategy(signal === undefined ? {} : { signal });
    // An empty repository's v0 advertisement tells nothing: ask again once it has a commit.
    if (!this.remote.capabilitiesKnown) return strategy;
    this.#strategy = strategy;
    this.opts.onStrategy?.(strategy);
    return strategy;
  }

  async loadTree(oid: string, signal?: AbortSignal, at?: string): Promise<Buffer> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return cached;
    if ((await this.strategy(signal)) === 'tip-only') return (await this.#fromTip(oid, 'tree', signal, at)).data;
    const objects = await this.fetch([oid], { filter: 'tree:0' }, signal);
    const tree = objects.get(oid);
    if (tree === undefined || tree.type !== 'tree') throw new StoreError('upstream', `the git host did not send tree ${oid}`);
    return tree.data;
  }

  /**
   * Trees by id in one request (tree:0 with explicit wants); those the host did not send are missing. Empty
   * from a tip-only server, which cannot send trees by id (loadTree then gets each from the tip).
   */
  async fetchTrees(oids: string[], signal?: AbortSignal): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if ((await this.strategy(signal)) === 'tip-only') return out;
    for (const [oid, obj] of await this.fetch(oids, { filter: 'tree:0' }, signal)) if (obj.type === 'tree') out.set(oid, obj.data);
    return out;
  }

  /**
   * A blob's content: from the cache, or fetched by id. A small blob is read whole and cached; a large one
   * is streamed from the response, so a file of any size passes through bounded memory.
   */
  async readBlob(oid: string, signal: AbortSignal, at?: string): Promise<BlobRead> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return { size: cached.length, stream: bufferStream(cached) };
    const disk = this.opts.disk;
    // A blob the object cache would keep is never on disk; asking the file system for it would be wasted.
    const known = this.sizes.get(oid);
    if (disk !== undefined && (known === undefined || known > this.opts.cacheBlobBytes)) {
      const hit = await disk.open(oid, known);
      if (hit !== undefined) return hit;
    }
    if ((await this.strategy(signal)) === 'tip-only') {
      const { data } = await this.#fromTip(oid, 'blob', signal, at);
      if (data.length > this.opts.cacheBlobBytes) void disk?.put(oid, data);
      return { size: data.length, stream: bufferStream(data) };
    }
    const { blob, close } = await this.#fetchBlob(oid, signal);
    if (blob.size > this.opts.cacheBlobBytes) {
      const writer = disk?.writer(oid, blob.size);
      const stream = writer === undefined ? blob.stream : teeInto(blob.stream, writer);
      // Released before it was ever read (a 416), the tee's own cleanup would not run: abandon it here too.
      return { size: blob.size, stream: releasing(mapErrors(stream), () => {
        close();
        void writer?.abandon();
      }) };
    }
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of blob.stream) chunks.push(chunk);
      const data = Buffer.concat(chunks, blob.size);
      this.cache.set(oid, data);
      return { size: data.length, stream: bufferStream(data) };
    } finally {
      close();
    }
  }

  /**
   * A blob's size, as cheaply as it can be learned: the cache or the remembered sizes (no round trip), the
   * host's object-info (one small one), or else the start of a fetch of the blob, which is dropped once its
   * pack entry header gave the size.
   */
  async blobSize(oid: string, signal: AbortSignal, at?: string): Promise<number> {
    const known = this.cache.has(oid) ? this.cache.get(oid)!.length : this.sizes.get(oid) ?? this.opts.disk?.sizeOf(oid);
    if (known !== undefined) return known;
    if ((await this.strategy(signal)) === 'tip-only') return (await this.#fromTip(oid, 'blob', signal, at)).data.length;
    const info = await this.remote.objectInfo([oid], { signal });
    let size = info?.get(oid);
    if (size === undefined) {
      const { blob, close } = await this.#fetchBlob(oid, signal);
      close();
      size = blob.size;
    }
    this.sizes.set(oid, size);
    return size;
  }

  /**
   * Keeps what a push just wrote, since the next requests will read it: trees, commits, small blobs, all sizes;
   * larger blobs go to the disk cache, a spooled one by moving its raw file there (awaited: the file is the
   * write's to dispose of once this returns), one in memory written in the background.
   */
  async remember(objects: readonly PushObject[]): Promise<void> {
    const moves: Promise<unknown>[] = [];
    const disk = this.opts.disk;
    for (const o of objects) {
      if (o.type === 'blob') this.sizes.set(o.oid, o.size);
      if (o.type === 'blob' && o.size > this.opts.cacheBlobBytes && disk !== undefined) {
        if (o.rawFile !== undefined) moves.push(disk.adopt(o.oid, o.size, o.rawFile));
        else if (Buffer.isBuffer(o.data)) void disk.put(o.oid, o.data);
      }
      if (!Buffer.isBuffer(o.data)) continue;
      if (o.type !== 'blob' || o.size <= this.opts.cacheBlobBytes) this.cache.set(o.oid, o.data);
    }
    await Promise.all(moves);
  }

  /**
   * Fetches objects by id and returns the wanted ones and any commits. Trees and commits that come along are
   * cached, since every one is immutable; other blobs (a host without filters sends whole subtrees) are dropped.
   */
  async fetch(wants: string[], opts: { depth?: number; filter?: string }, signal?: AbortSignal): Promise<Map<string, PackObject>> {
    const out = new Map<string, PackObject>();
    const wanted = new Set(wants);
    for await (const obj of this.remote.fetch({ wants, ...opts }, signal === undefined ? {} : { signal })) {
      if (wanted.has(obj.oid) || obj.type === 'commit') out.set(obj.oid, obj);
      this.#keep(obj);
    }
    return out;
  }

  /** Trees and commits are always kept; small blobs too when they came along (only a tip-only server sends them). */
  #keep(obj: PackObject): void {
    if (obj.type === 'tree' || obj.type === 'commit') this.cache.set(obj.oid, obj.data);
    else if (obj.type === 'blob') {
      this.sizes.set(obj.oid, obj.data.length);
      if (obj.data.length <= this.opts.cacheBlobBytes) this.cache.set(obj.oid, obj.data);
    }
  }

  /**
   * An object from a tip-only server: the tip commit `at` (or the newest known) with its whole tree, depth 1.
   * A large blob is held whole while it is sent on (such a server cannot send one blob alone).
   */
  async #fromTip(oid: string, type: 'tree' | 'blob', signal: AbortSignal | undefined, at: string | undefined): Promise<PackObject> {
    const tip = at ?? this.opts.knownTip();
    if (tip === null || tip === undefined) {
      throw new StoreError('upstream', `cannot fetch ${type} ${oid}`, 'the git host serves only ref tips, and no tip is known yet');
    }
    let found: PackObject | undefined;
    for await (const obj of this.remote.fetch({ wants: [tip], depth: 1 }, signal === undefined ? {} : { signal })) {
      if (obj.oid === oid) found = obj;
      this.#keep(obj);
    }
    if (found === undefined || found.type !== type) {
      throw new StoreError('upstream', `the git host did not send ${type} ${oid}`, `it is not in the tree of commit ${tip}`);
    }
    return found;
  }

  /** Starts a fetch of one blob: its size is known once this resolves; `close` releases the response. */
  async #fetchBlob(oid: string, signal: AbortSignal): Promise<{ blob: StreamedObject; close: () => void }> {
    const info = await this.remote.fetchPack({ wants: [oid] }, { signal });
    try {
      const blob = await readSingleObjectPack(info.pack, oid);
      if (blob.type !== 'blob') throw new StoreError('not-found', `object ${oid} is a ${blob.type}, not a file`);
      this.sizes.set(oid, blob.size);
      return { blob, close: () => info.close() };
    } catch (err) {
      info.close();
      throw err;
    }
  }
}

/** Errors surfacing mid-stream (a corrupt or cut pack) become store errors like any other. */
async function* mapErrors(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* stream;
  } catch (err) {
    throw toStoreError(err);
  }
}

/**
 * Passes a fetched blob on while writing it into the disk cache: kept once the stream ended whole (the pack
 * reader has checked its id by then), abandoned when it failed or the client stopped early.
 */
async function* teeInto(stream: AsyncIterable<Buffer>, writer: CacheWriter): AsyncGenerator<Buffer> {
  let whole = false;
  try {
    for await (const chunk of stream) {
      await writer.write(chunk);
      yield chunk;
    }
    whole = true;
  } finally {
    await (whole ? writer.commit() : writer.abandon());
  }
}

async function* bufferStream(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}
