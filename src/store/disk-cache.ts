/**
 * A bounded on-disk cache of blobs by id, so that a read of a large blob this process (or another sharing the
 * directory) already has costs a file read instead of a fetch. Blobs are named by their hash and never change,
 * so an entry can never be stale: it can only be missing or damaged, and either is simply a miss.
 *
 * Layout: `<dir>/ab/cdef…` as in Git's objects/ directory. A file appears only by rename of a complete,
 * verified temporary file in the same directory, so a reader sees a whole blob or none, whichever process
 * wrote it. The index (id → size, in recency order) is this process's own view, learned by one bounded scan
 * at start and from what it writes and opens; each process keeps its view within the byte bound. A file that
 * vanished (another process evicted it) is a miss; a file whose size differs from what is known is removed.
 * Nothing of a blob's content is held on the heap: reads stream from the file, a range reads only the range.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ObjectHasher } from '../pack/oid.js';
import { releasing } from '../pack/release-stream.js';

export interface DiskCacheOptions {
  dir: string;
  /** Bound on the bytes of the blobs kept. */
  maxBytes: number;
  /** Most files the start-up scan looks at; the rest are learned when they are read. */
  maxScanEntries?: number;
  /** Check a blob's id while a whole-file read streams it (the last chunk waits for the check). */
  verify?: boolean;
}

/** A blob found in the cache, its file open: read it whole or a range of it, once. */
export interface DiskHit {
  size: number;
  /** The whole blob; checked against its id when the cache verifies. Stopping early closes the file. */
  stream: AsyncIterable<Uint8Array>;
  /** Bytes `start` to `end` inclusive, read on their own; the whole `stream` must then be discarded. */
  range(start: number, end: number): AsyncIterable<Uint8Array>;
}

/** A blob being written into the cache as it streams past: committed once whole, abandoned otherwise. */
export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abandon(): Promise<void>;
}

const OID = /^[0-9a-f]{40}$/;
const NAME = /^[0-9a-f]{38}$/;
/** Temporary files older than this were left by a process that died while writing them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const READ_CHUNK = 256 * 1024;

export class DiskCache {
  readonly dir: string;
  readonly maxBytes: number;
  /** id → size; Map order is recency order (a hit re-inserts). */
  readonly #index = new Map<string, number>();
  /** Blobs being written by this process, so a second reader does not write the same one again. */
  readonly #writing = new Set<string>();
  readonly #verify: boolean;
  #bytes = 0;
  readonly #scan: Promise<void>;
  hits = 0;
  misses = 0;

  constructor(opts: DiskCacheOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.#verify = opts.verify ?? true;
    this.#scan = this.#scanOnce(opts.maxScanEntries ?? 100_000).catch(() => {});
  }

  /** Resolves once the start-up scan is done (reads and writes work before it, with a partial index). */
  ready(): Promise<void> {
    return this.#scan;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#index.size;
  }

  /** Where a blob's file lives. */
  pathOf(oid: string): string {
    return join(this.dir, oid.slice(0, 2), oid.slice(2));
  }

  /** A directory for files that will be moved into the cache (same file system, so a rename suffices). */
  get incomingDir(): string {
    return join(this.dir, 'incoming');
  }

  /** The size of a blob this process knows to be cached (no file system access). */
  sizeOf(oid: string): number | undefined {
    return this.#index.get(oid);
  }

  /**
   * Opens a cached blob. `expected` is its size when the caller knows it (a file of another size is damaged);
   * undefined when the file is missing, damaged or vanished meanwhile.
   */
  async open(oid: string, expected?: number): Promise<DiskHit | undefined> {
    if (!OID.test(oid)) return undefined;
    const known = this.#index.get(oid) ?? expected;
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(oid), 'r');
    } catch {
      this.#forget(oid);
      this.misses++;
      return undefined;
    }
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch {
      await handle.close();
      this.misses++;
      return undefined;
    }
    if (known !== undefined && size !== known) {
      await handle.close();
      await this.#remove(oid);
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#touch(oid, size);
    return this.#hit(oid, handle, size);
  }

  /**
   * A writer for a blob of `size` bytes about to stream past, or undefined when it is not to be kept (too large
   * for the bound, or being written already).
   */
  writer(oid: string, size: number): CacheWriter | undefined {
    if (!OID.test(oid) || size > this.maxBytes || this.#writing.has(oid)) return undefined;
    this.#writing.add(oid);
    const target = this.pathOf(oid);
    const temp = tempName(target);
    let out: WriteStream | undefined;
    let written = 0;
    let failed = false;
    let ended = false;
    const finish = () => {
      ended = true;
      this.#writing.delete(oid);
    };
    const abandon = async (): Promise<void> => {
      if (ended) return;
      finish();
      if (out !== undefined) {
        out.destroy();
        await once(out, 'close').catch(() => {});
      }
      await rm(temp, { force: true }).catch(() => {});
    };
    return {
      write: async (chunk) => {
        if (failed || ended) return;
        try {
          if (out === undefined) {
            await mkdir(join(target, '..'), { recursive: true });
            out = createWriteStream(temp);
            out.on('error', () => (failed = true));
          }
          written += chunk.length;
          if (!out.write(chunk)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
        } catch {
          failed = true;
        }
      },
      commit: async () => {
        if (ended) return;
        // The bytes were verified upstream (the pack reader checks the id before the last chunk); only whole ones go in.
        if (failed || written !== size || (out === undefined && size > 0)) return abandon();
        try {
          if (out === undefined) {
            await mkdir(join(target, '..'), { recursive: true });
            out = createWriteStream(temp);
          }
          out.end();
          await once(out, 'close');
          await rename(temp, target);
          finish();
          this.#add(oid, size);
        } catch {
          await abandon();
        }
      },
      abandon,
    };
  }

  /** Writes a blob held in memory (an id the caller computed from these very bytes). */
  async put(oid: string, data: Buffer): Promise<void> {
    const w = this.writer(oid, data.length);
    if (w === undefined) return;
    await w.write(data);
    await w.commit();
  }

  /**
   * Moves a file holding a blob's bytes (hashed as they arrived) into the cache: a rename, or a copy when it is
   * on another file system. The file is gone from `file` afterwards either way.
   */
  async adopt(oid: string, size: number, file: string): Promise<boolean> {
    if (!OID.test(oid) || size > this.maxBytes || this.#writing.has(oid)) {
      await rm(file, { force: true }).catch(() => {});
      return false;
    }
    const target = this.pathOf(oid);
    try {
      if ((await stat(file)).size !== size) throw new Error('size differs');
      await mkdir(join(target, '..'), { recursive: true });
      try {
        await rename(file, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        const temp = tempName(target);
        await copyFile(file, temp);
        await rename(temp, target).catch(async (e: unknown) => {
          await rm(temp, { force: true });
          throw e;
        });
      }
      this.#add(oid, size);
      return true;
    } catch {
      return false;
    } finally {
      await rm(file, { force: true }).catch(() => {});
    }
  }

  #hit(oid: string, handle: FileHandle, size: number): DiskHit {
    let taken = false;
    const close = async () => {
      if (taken) return;
      taken = true;
      await handle.close().catch(() => {});
    };
    const verify = this.#verify;
    const remove = () => this.#remove(oid);
    const whole = (async function* (): AsyncGenerator<Buffer> {
      const hasher = verify ? new ObjectHasher('blob', size) : undefined;
      let held: Buffer | undefined;
      let read = 0;
      for await (const chunk of handle.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false, start: 0 })) {
        const buf = chunk as Buffer;
        read += buf.length;
        hasher?.update(buf);
        if (held !== undefined) yield held;
        held = buf;
      }
      // A file changed under us, or damaged on disk: never deliver it whole.
      if (read !== size || (hasher !== undefined && hasher.digest() !== oid)) {
        await remove();
        throw new Error(`the cached blob ${oid} is damaged (${read} of ${size} bytes, or a wrong id); it was removed`);
      }
      if (held !== undefined) yield held;
    })();
    return {
      size,
      stream: releasing(whole, close),
      range: (start, end) => {
        // The range takes the file over; the whole stream, when discarded, must not close it under the range.
        taken = true;
        const part = handle.createReadStream({ start, end, highWaterMark: READ_CHUNK, autoClose: false });
        return releasing(part[Symbol.asyncIterator](), () => handle.close().catch(() => {}));
      },
    };
  }

  #touch(oid: string, size: number): void {
    const had = this.#index.get(oid);
    if (had !== undefined) {
      this.#index.delete(oid);
      this.#index.set(oid, had);
      return;
    }
    this.#add(oid, size);
  }

  #add(oid: string, size: number): void {
    this.#forget(oid);
    this.#index.set(oid, size);
    this.#bytes += size;
    this.#evict();
  }

  #evict(): void {
    for (const [oid] of this.#index) {
      if (this.#bytes <= this.maxBytes) break;
      void this.#remove(oid);
    }
  }

  #forget(oid: string): void {
    const size = this.#index.get(oid);
    if (size === undefined) return;
    this.#index.delete(oid);
    this.#bytes -= size;
  }

  async #remove(oid: string): Promise<void> {
    this.#forget(oid);
    await unlink(this.pathOf(oid)).catch(() => {});
  }

  /** Learns what the directory holds, oldest first by modification time; removes temporaries of dead writers. */
  async #scanOnce(maxEntries: number): Promise<void> {
    let fans: string[];
    try {
      fans = (await readdir(this.dir)).filter((n) => /^[0-9a-f]{2}$/.test(n));
    } catch {
      return; // not made yet: nothing cached
    }
    const found: Array<{ oid: string; size: number; mtime: number }> = [];
    const now = Date.now();
    for (const fan of [...fans, 'incoming']) {
      if (found.length >= maxEntries) break;
      let names: string[];
      try {
        names = await readdir(join(this.dir, fan));
      } catch {
        continue;
      }
      for (const name of names) {
        if (found.length >= maxEntries) break;
        const file = join(this.dir, fan, name);
        const s = await stat(file).catch(() => undefined);
        if (s === undefined || !s.isFile()) continue;
        if (fan === 'incoming' || !NAME.test(name)) {
          if (now - s.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true }).catch(() => {});
          continue;
        }
        found.push({ oid: fan + name, size: s.size, mtime: s.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    // Entries this process added or opened meanwhile are newer than anything the scan found.
    const since = [...this.#index];
    const seen = new Set(this.#index.keys());
    this.#index.clear();
    this.#bytes = 0;
    for (const f of found) {
      if (!seen.has(f.oid)) {
        this.#index.set(f.oid, f.size);
        this.#bytes += f.size;
      }
    }
    for (const [oid, size] of since) {
      this.#index.set(oid, size);
      this.#bytes += size;
    }
    this.#evict();
  }
}

function tempName(target: string): string {
  return join(target, '..', `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}
