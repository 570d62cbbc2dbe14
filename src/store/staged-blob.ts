/**
 * A request body made ready to become a blob: its size and object id known, its bytes kept in memory when
 * small and spooled to a temporary file when large. The id must be known before the commit (and so before
 * the pack) can be written, which is why a body is read to its end before a write goes to the remote.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { pipeline as streamPipeline } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflate } from 'node:zlib';
import { hashObject, ObjectHasher } from '../pack/oid.js';
import { adaptiveDeflate } from '../pack/adaptive-deflate.js';
import { StoreError, type BodySource } from './store.js';

export interface StagedBlob {
  readonly oid: string;
  readonly size: number;
  /** The blob's bytes, readable any number of times (a push may be retried). */
  open(): AsyncIterable<Uint8Array>;
  /** In-memory bytes when the blob was small enough to keep. */
  readonly data?: Buffer;
  /** The bytes as one zlib stream, when they were deflated on arrival. */
  readonly deflated?: () => AsyncIterable<Uint8Array>;
  /** A file of the raw bytes that may be moved away once the blob is pushed (into the disk cache). */
  readonly rawFile?: string;
  dispose(): Promise<void>;
}

export interface StageOptions {
  maxBodyBytes: number;
  /** Bodies up to this size stay in memory; larger ones go to a temporary file. */
  spoolThresholdBytes: number;
  tmpDir?: string;
  /**
   * Deflate a large body of known length while it arrives (for pushes that send blobs deflated adaptively);
   * otherwise it is spooled as it is, and the pack compresses it as configured. Default true.
   */
  deflateOnArrival?: boolean;
  /**
   * Where a body deflated on arrival also keeps its raw bytes (the disk cache's incoming directory), so that
   * once pushed it can be moved into the cache by a rename instead of inflated again; unset: no raw copy.
   */
  rawCopyDir?: string;
}

export function stagedFromBuffer(data: Buffer): StagedBlob {
  return {
    oid: hashObject('blob', data),
    size: data.length,
    data,
    open: async function* () {
      yield data;
    },
    dispose: async () => {},
  };
}

export async function stageBody(body: BodySource, opts: StageOptions): Promise<StagedBlob> {
  if (body.length !== undefined && body.length > opts.maxBodyBytes) {
    throw new StoreError('too-large', `body of ${body.length} bytes exceeds the limit of ${opts.maxBodyBytes} bytes`);
  }
  if (body.length !== undefined && body.length > opts.spoolThresholdBytes && opts.deflateOnArrival !== false) {
    return stageDeflated(body, body.length, opts);
  }
  // Small, or of unknown length: kept in memory, or spooled as it comes once it grows past the threshold.
  const chunks: Buffer[] = [];
  let size = 0;
  let spool: { dir: string; file: string; out: ReturnType<typeof createWriteStream> } | undefined;
  // With a declared length the id can be computed as the bytes stream in; otherwise it takes a second pass.
  const declared = body.length;
  const hash = declared !== undefined ? new ObjectHasher('blob', declared) : undefined;
  try {
    for await (const chunk of body.stream) {
      const buf = asBuffer(chunk);
      size += buf.length;
      // Past the declared length the body is refused below, once it has ended; the id is not needed then.
      if (hash !== undefined && declared !== undefined && size <= declared) hash.update(buf);
      if (size > opts.maxBodyBytes) {
        throw new StoreError('too-large', `body exceeds the limit of ${opts.maxBodyBytes} bytes`);
      }
      if (spool === undefined && size > opts.spoolThresholdBytes) {
        const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'gitrest-body-'));
        const file = join(dir, 'blob');
        spool = { dir, file, out: createWriteStream(file) };
        for (const c of chunks.splice(0)) await write(spool.out, c);
      }
      if (spool !== undefined) await write(spool.out, buf);
      else chunks.push(buf);
    }
    if (body.length !== undefined && body.length !== size) {
      throw new StoreError('bad-request', `body ended after ${size} of ${body.length} declared bytes`);
    }
    if (spool === undefined) return stagedFromBuffer(Buffer.concat(chunks, size));
    spool.out.end();
    await once(spool.out, 'close');
    return await spooledBlob(spool.dir, spool.file, size, hash?.digest());
  } catch (err) {
    if (spool !== undefined) {
      spool.out.destroy();
      await rm(spool.dir, { recursive: true, force: true });
    }
    throw err;
  }
}

async function write(out: ReturnType<typeof createWriteStream>, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** The id of a spooled blob needs its size first (it is in the object header), hence a second pass. */
async function spooledBlob(dir: string, file: string, size: number, oid?: string): Promise<StagedBlob> {
  if (oid === undefined) {
    const hash = new ObjectHasher('blob', size);
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    oid = hash.digest();
  }
  return {
    oid,
    size,
    open: () => createReadStream(file, { highWaterMark: 256 * 1024 }),
    rawFile: file,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A large body of known length is hashed and deflated while it arrives, and spooled deflated: the push
 * then copies the spool into the pack, so the costly work overlaps the upload instead of following it.
 * The deflating adapts to the bytes (incompressible stretches are stored, not compressed; see adaptiveDeflate).
 * Deflating as the push streams instead (where it would overlap the git server's receiving) was tried and was
 * slower for JSON text (BENCHMARKS.md, "Decisions in the code").
 */
async function stageDeflated(body: BodySource, length: number, opts: StageOptions): Promise<StagedBlob> {
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'gitrest-body-'));
  const file = join(dir, 'blob.zz');
  const hash = new ObjectHasher('blob', length);
  // Writing the raw copy costs a write to the page cache, overlapped with the upload; inflating after the push
  // would cost the whole inflate on the write's path.
  const raw = opts.rawCopyDir === undefined ? undefined : await rawCopy(opts.rawCopyDir);
  const counted = async function* (): AsyncGenerator<Buffer> {
    let size = 0;
    for await (const chunk of body.stream) {
      const buf = asBuffer(chunk);
      size += buf.length;
      if (size > length) throw new StoreError('bad-request', `body is longer than its declared ${length} bytes`);
      hash.update(buf);
      if (raw !== undefined && !raw.failed) await write(raw.out, buf).catch(() => void (raw.failed = true));
      yield buf;
    }
    if (size !== length) throw new StoreError('bad-request', `body ended after ${size} of ${length} declared bytes`);
  };
  const dropRaw = async () => {
    if (raw === undefined) return;
    raw.out.destroy();
    await rm(raw.file, { force: true });
  };
  try {
    await pipeline(adaptiveDeflate(counted()), createWriteStream(file));
    if (raw !== undefined && !raw.failed) {
      raw.out.end();
      await once(raw.out, 'close').catch(() => void (raw.failed = true));
    }
    // A raw copy that could not be written (a full disk, say) is only a cache entry less.
    if (raw?.failed === true) await dropRaw();
  } catch (err) {
    await dropRaw();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    oid: hash.digest(),
    size: length,
    open: () => {
      const inflate = createInflate();
      streamPipeline(createReadStream(file), inflate, () => {});
      return inflate;
    },
    deflated: () => createReadStream(file),
    ...(raw === undefined || raw.failed ? {} : { rawFile: raw.file }),
    dispose: async () => {
      await dropRaw();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A file for the raw copy; when its directory cannot be made there is simply no copy. */
async function rawCopy(dir: string): Promise<{ file: string; out: ReturnType<typeof createWriteStream>; failed: boolean } | undefined> {
  try {
    await mkdir(dir, { recursive: true });
  } catch {
    return undefined;
  }
  const file = join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  const out = createWriteStream(file);
  const raw = { file, out, failed: false };
  out.on('error', () => void (raw.failed = true));
  return raw;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
