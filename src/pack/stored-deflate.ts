/**
 * A zlib stream (RFC 1950) of stored deflate blocks: level 0, the bytes as they are, framed. It costs a copy's
 * worth of checksumming (Adler-32) and nothing else, for hosts that inflate and deflate again what they
 * receive (git's receive-pack keeps a small push as loose objects, each deflated by git itself).
 */
import { adler32, storedBlocks } from './adaptive-deflate.js';

/** CMF 0x78 (deflate, 32 KiB window), FLG 0x01: the "fastest" level hint, no dictionary, header check bits. */
const HEADER = Buffer.from([0x78, 0x01]);
/** A final stored block of no bytes: BFINAL 1, BTYPE 00, LEN 0, NLEN 0xffff. */
const FINAL = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]);

export async function* storedZlib(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Buffer> {
  yield HEADER;
  let adler = 1;
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue;
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    adler = adler32(adler, data);
    yield* storedBlocks(data);
  }
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(adler >>> 0);
  yield Buffer.concat([FINAL, trailer]);
}
