/**
 * The Git store's access to immutable objects: commits, trees and blobs by id, from the byte-bounded cache
 * when it holds them and fetched from the remote when not, and the sizes of blobs (remembered apart from
 * their content, so a HEAD can be answered without the blob).
 */
import { decodeCommit } from '../pack/commit.js';
import { readSingleObjectPack, type PackObject, type StreamedObject } from '../pack/pack-reader.js';
import { releasing } from '../pack/release-stream.js';
import type { Remote } from '../protocol/remote.js';
import { BlobSizes } from './blob-sizes.js';
import { toStoreError } from './errors.js';
import type { ObjectCache } from './object-cache.js';
import { StoreError } from './store.js';
import type { PushObject } from './write-plan.js';

export interface GitObjectsOptions {
  /** Blobs up to this size are kept in the cache; larger ones stream through. */
  cacheBlobBytes: number;
  /** How many blob sizes are remembered. */
  blobSizes: number;
}

export class GitObjects {
  readonly sizes: BlobSizes;

  constructor(readonly remote: Remote, readonly cache: ObjectCache, private readonly opts: GitObjectsOptions) {
    this.sizes = new BlobSizes(opts.blobSizes);
  }

  async rootTree(commit: string, signal?: AbortSignal): Promise<string> {
    let data = this.cache.get(commit);
    if (data === undefined) {
      // The commit and its root tree in one request: depth 1 keeps history out, tree:1 keeps subtrees out.
      const objects = await this.fetch([commit], { depth: 1, filter: 'tree:1' }, signal);
      data = objects.get(commit)?.data;
      if (data === undefined) throw new StoreError('upstream', `the git host did not send commit ${commit}`);
      this.cache.set(commit, data);
    }
    return decodeCommit(data).tree;
  }

  async loadTree(oid: string, signal?: AbortSignal): Promise<Buffer> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return cached;
    const objects = await this.fetch([oid], { filter: 'tree:0' }, signal);
    const tree = objects.get(oid);
    if (tree === undefined || tree.type !== 'tree') throw new StoreError('upstream', `the git host did not send tree ${oid}`);
    return tree.data;
  }

  /**
   * A blob's content: from the cache, or fetched by id. A small blob is read whole and cached; a large one
   * is streamed from the response, so a file of any size passes through bounded memory.
   */
  async readBlob(oid: string, signal: AbortSignal): Promise<{ size: number; stream: AsyncIterable<Uint8Array> }> {
    const cached = this.cache.get(oid);
    if (cached !== undefined) return { size: cached.length, stream: bufferStream(cached) };
    const { blob, close } = await this.#fetchBlob(oid, signal);
    if (blob.size > this.opts.cacheBlobBytes) {
      return { size: blob.size, stream: releasing(mapErrors(blob.stream), close) };
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
  async blobSize(oid: string, signal: AbortSignal): Promise<number> {
    const known = this.cache.has(oid) ? this.cache.get(oid)!.length : this.sizes.get(oid);
    if (known !== undefined) return known;
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

  /** Keeps what a push just wrote, since the next requests will read it: trees, commits, small blobs, all sizes. */
  remember(objects: readonly PushObject[]): void {
    for (const o of objects) {
      if (o.type === 'blob') this.sizes.set(o.oid, o.size);
      if (!Buffer.isBuffer(o.data)) continue;
      if (o.type !== 'blob' || o.size <= this.opts.cacheBlobBytes) this.cache.set(o.oid, o.data);
    }
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
      if (obj.type === 'tree' || obj.type === 'commit') this.cache.set(obj.oid, obj.data);
    }
    return out;
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

async function* bufferStream(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}
