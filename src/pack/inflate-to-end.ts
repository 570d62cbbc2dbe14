import { createInflate } from 'node:zlib';
import type { ByteCursor } from './byte-cursor.js';
import { PackError } from './errors.js';

/** Largest output buffer node fills per step (256 KiB measured faster than 64 KiB); sliced further for smaller chunkSize. */
const ZLIB_CHUNK = 256 * 1024;
/** Input is handed to zlib in pieces of at least this size (but the last), see nextPiece. */
const PIECE_SIZE = 256 * 1024;
/** The smallest output buffer node:zlib accepts. */
const ZLIB_MIN_CHUNK = 64;

/**
 * Inflates everything left in `input` as one zlib stream with node:zlib (native zlib, run off the main thread:
 * much faster than pako), yielding the output in chunks of at most `chunkSize` bytes. The stream must inflate
 * to exactly `size` bytes and end at the last input byte:
 * - output beyond `size` fails with 'bad-size' before any of it is yielded, and inflating stops there (a zip
 *   bomb costs at most one zlib buffer);
 * - input left after the end of the stream fails with 'bad-trailer': node's inflate ignores such bytes
 *   silently, so the consumed count (`bytesWritten`) is checked against the bytes fed;
 * - a stream that has not ended at the last input byte fails with 'truncated'; other zlib errors with 'bad-zlib'.
 * Memory stays bounded: one input piece is inside zlib at a time, and zlib pauses while its output waits for
 * the consumer. Errors from the source propagate as they are.
 */
export async function* inflateToEnd(input: ByteCursor, size: number, chunkSize = 256 * 1024): AsyncGenerator<Buffer> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`invalid chunkSize ${chunkSize}`);
  const zlib = createInflate({ chunkSize: Math.max(ZLIB_MIN_CHUNK, Math.min(chunkSize, ZLIB_CHUNK)) });
  let wake: (() => void) | undefined;
  const signal = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  let failure: Error | undefined;
  let ended = false; // zlib saw the end of the stream and all its output has been read
  let writing = false; // a piece is inside zlib (its write callback has not run)
  let inputDone = false;
  zlib.on('readable', signal);
  zlib.on('end', () => {
    ended = true;
    signal();
  });
  // A failed write never calls its callback, so the error event is what wakes the loop.
  zlib.on('error', (err: Error) => {
    failure = err;
    signal();
  });
  let fed = 0;
  let produced = 0;
  try {
    for (;;) {
      if (failure !== undefined) throw asPackError(failure);
      let out: Buffer | null;
      while ((out = zlib.read() as Buffer | null) !== null) {
        produced += out.length;
        if (produced > size) throw new PackError('bad-size', `object inflates to more than its declared ${size} bytes`);
        for (let pos = 0; pos < out.length; pos += chunkSize) yield out.subarray(pos, pos + chunkSize);
      }
      if (ended) break;
      if (!writing && !inputDone) {
        // Only now is the next chunk asked for: zlib is done with the last piece, which may be the source's own buffer.
        const piece = await nextPiece(input);
        if (piece === undefined) {
          inputDone = true;
          zlib.end();
        } else {
          writing = true;
          fed += piece.length;
          zlib.write(piece, () => {
            writing = false;
            signal();
          });
        }
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (produced !== size) throw new PackError('bad-size', `object inflates to ${produced} bytes, declared ${size}`);
    if (!inputDone || zlib.bytesWritten !== fed) {
      throw new PackError('bad-trailer', 'unexpected data between the zlib stream and the pack checksum');
    }
  } finally {
    zlib.destroy();
  }
}

/**
 * The next piece of input, marked consumed; undefined at the end. Each zlib write costs a round trip to the
 * thread pool, and sources often deliver small chunks (git's side-band sends 8 KiB packets), so small chunks
 * are gathered into one copy of up to PIECE_SIZE bytes; a chunk at least that large is passed as is.
 */
async function nextPiece(input: ByteCursor): Promise<Buffer | undefined> {
  if (input.available === 0 && !(await input.fill())) return undefined;
  const { chunk, pos } = input;
  if (input.available >= PIECE_SIZE) {
    input.pos = chunk.length;
    return Buffer.from(chunk.buffer, chunk.byteOffset + pos, chunk.length - pos);
  }
  const piece = Buffer.allocUnsafe(PIECE_SIZE);
  let length = 0;
  do {
    const take = Math.min(input.available, PIECE_SIZE - length);
    piece.set(input.chunk.subarray(input.pos, input.pos + take), length);
    input.pos += take;
    length += take;
  } while (length < PIECE_SIZE && (input.available > 0 || (await input.fill())));
  return piece.subarray(0, length);
}

function asPackError(err: Error): PackError {
  if (err instanceof PackError) return err;
  // node reports Z_BUF_ERROR only when the input ends before the stream does.
  if ((err as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
    return new PackError('truncated', 'pack ended inside the zlib stream');
  }
  return new PackError('bad-zlib', `inflate failed: ${err.message}`);
}
