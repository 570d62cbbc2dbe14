import { createHash } from 'node:crypto';
import { createDeflate, deflateSync } from 'node:zlib';
import { adaptiveDeflate } from './adaptive-deflate.js';
import { storedZlib } from './stored-deflate.js';
import { PackError } from './errors.js';
import type { ObjectType } from './object.js';
import { encodeObjectHeader, encodePackHeader, typeCode } from './pack-format.js';

export type PackInput =
  | {
      type: ObjectType;
      size: number;
      /** The whole content, or a stream of it that must yield exactly `size` bytes. */
      data: Uint8Array | AsyncIterable<Uint8Array>;
    }
  | {
      type: ObjectType;
      size: number;
      /** The content already zlib-deflated (one complete zlib stream of `size` bytes), copied as is. */
      deflated: AsyncIterable<Uint8Array>;
    };

/**
 * How blob content is compressed in a pack: 'adaptive' (below), or a zlib level for every blob, 0 being the
 * bytes stored as they are. Trees and commits, small, always get zlib's default level.
 */
export type BlobCompression = 'adaptive' | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** Buffers up to this size are deflated in one call at zlib's default level; larger ones adaptively. */
const WHOLE_DEFLATE_MAX = 64 * 1024;

/**
 * Streams a version 2 pack of exactly `count` whole (non-delta) objects: header, one
 * zlib-deflated entry per object, then the SHA-1 of everything before it. Streamed object
 * content is deflated as it arrives and never held whole. Throws PackError 'bad-count' or
 * 'bad-size' when the input disagrees with the declared numbers.
 */
export async function* writePack(
  count: number,
  objects: Iterable<PackInput> | AsyncIterable<PackInput>,
  blobs: BlobCompression = 'adaptive',
): AsyncGenerator<Buffer> {
  const hash = createHash('sha1');
  const emit = (bytes: Buffer): Buffer => {
    hash.update(bytes);
    return bytes;
  };
  yield emit(encodePackHeader(count));
  let written = 0;
  for await (const obj of objects) {
    if (++written > count) throw new PackError('bad-count', `more than the declared ${count} objects`);
    const header = encodeObjectHeader(typeCode(obj.type), obj.size);
    if ('deflated' in obj) {
      yield emit(header);
      for await (const part of obj.deflated) yield emit(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
    } else if (obj.type === 'blob' && blobs !== 'adaptive') {
      yield emit(header);
      const data = exactSize(toAsync(obj.data instanceof Uint8Array ? [obj.data] : obj.data), obj.size);
      const zlib = blobs === 0 ? storedZlib(data) : deflateAtLevel(data, blobs);
      for await (const part of zlib) yield emit(part);
    } else if (obj.data instanceof Uint8Array && obj.data.length <= WHOLE_DEFLATE_MAX) {
      if (obj.data.length !== obj.size) {
        throw new PackError('bad-size', `object has ${obj.data.length} bytes, declared ${obj.size}`);
      }
      yield emit(Buffer.concat([header, deflateSync(obj.data)]));
    } else {
      yield emit(header);
      const data = obj.data instanceof Uint8Array ? [obj.data] : obj.data;
      for await (const part of deflateObjectStream(toAsync(data), obj.size)) yield emit(part);
    }
  }
  if (written !== count) throw new PackError('bad-count', `${written} objects written, declared ${count}`);
  yield hash.digest();
}

/**
 * zlib-deflates a stream of exactly `size` bytes, yielding compressed chunks as they are produced.
 * Streamed objects are the large ones, where deflating is the costliest step of a write: the parameters
 * follow the data (stored when incompressible, level 1 when not; see adaptiveDeflate). Whole buffers
 * (trees, commits, blobs up to 64 KiB) keep zlib's default level.
 */
export function deflateObjectStream(chunks: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  return adaptiveDeflate(exactSize(chunks, size));
}

/** A node:zlib stream at `level`, fed with backpressure. */
async function* deflateAtLevel(chunks: AsyncIterable<Uint8Array>, level: number): AsyncGenerator<Buffer> {
  const z = createDeflate({ level });
  const feeding = (async () => {
    try {
      for await (const c of chunks) if (!z.write(c)) await new Promise((r) => z.once('drain', r));
      z.end();
    } catch (err) {
      z.destroy(err as Error);
    }
  })();
  for await (const out of z) yield out as Buffer;
  await feeding;
}

async function* toAsync(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

async function* exactSize(chunks: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of chunks) {
    seen += chunk.length;
    if (seen > size) throw new PackError('bad-size', `object stream exceeds the declared ${size} bytes`);
    if (chunk.length > 0) yield chunk;
  }
  if (seen !== size) throw new PackError('bad-size', `object stream has ${seen} bytes, declared ${size}`);
}
