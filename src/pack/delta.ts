import { constants } from 'node:buffer';
import { PackError } from './errors.js';

const MAX_LENGTH = constants.MAX_LENGTH;

/** Reads the little-endian base-128 size at `pos` of a delta header. */
function readSize(delta: Uint8Array, pos: number): [size: number, next: number] {
  let size = 0;
  let scale = 1;
  for (;;) {
    if (pos >= delta.length) throw new PackError('bad-delta', 'truncated delta header');
    const byte = delta[pos++]!;
    size += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) return [size, pos];
    scale *= 128;
    if (scale > Number.MAX_SAFE_INTEGER) throw new PackError('bad-delta', 'delta size overflows');
  }
}

/** The result size a delta declares, without applying it. */
export function deltaResultSize(delta: Uint8Array): number {
  const [, afterBase] = readSize(delta, 0);
  return readSize(delta, afterBase)[0];
}

/**
 * Applies a Git delta (see gitformat-pack, "Deltified representation") to `base`. The base
 * size, result size and every copy/insert are checked; `maxResultSize` guards the allocation.
 */
export function applyDelta(base: Uint8Array, delta: Uint8Array, maxResultSize = Infinity): Buffer {
  let [baseSize, pos] = readSize(delta, 0);
  if (baseSize !== base.length) {
    throw new PackError('bad-delta', `delta expects a ${baseSize}-byte base, got ${base.length} bytes`);
  }
  let resultSize: number;
  [resultSize, pos] = readSize(delta, pos);
  if (resultSize > maxResultSize || resultSize > MAX_LENGTH) {
    throw new PackError('too-large', `delta result of ${resultSize} bytes exceeds the ${Math.min(maxResultSize, MAX_LENGTH)}-byte limit`);
  }
  // Each instruction takes at least one delta byte and yields at most the whole base (or 127 literal bytes):
  // a larger declared size is a lie, refused before it is allocated.
  if (resultSize > (delta.length - pos) * Math.max(base.length, 0x7f)) {
    throw new PackError('bad-delta', `delta declares ${resultSize} bytes, more than its instructions can produce`);
  }
  const out = Buffer.allocUnsafe(resultSize);
  let written = 0;
  while (pos < delta.length) {
    const op = delta[pos++]!;
    if (op & 0x80) {
      // Copy from base: bits 0-3 say which offset bytes follow, bits 4-6 which size bytes.
      let offset = 0;
      let size = 0;
      for (let bit = 0; bit < 7; bit++) {
        if (!(op & (1 << bit))) continue;
        if (pos >= delta.length) throw new PackError('bad-delta', 'truncated copy instruction');
        const byte = delta[pos++]!;
        if (bit < 4) offset += byte * 2 ** (8 * bit);
        else size += byte * 2 ** (8 * (bit - 4));
      }
      if (size === 0) size = 0x10000;
      if (offset + size > base.length) {
        throw new PackError('bad-delta', `copy of ${size} bytes at ${offset} is outside the ${base.length}-byte base`);
      }
      if (written + size > resultSize) throw new PackError('bad-delta', 'delta writes past its declared result size');
      out.set(base.subarray(offset, offset + size), written);
      written += size;
    } else if (op !== 0) {
      // Insert the next `op` literal bytes.
      if (pos + op > delta.length) throw new PackError('bad-delta', 'truncated insert instruction');
      if (written + op > resultSize) throw new PackError('bad-delta', 'delta writes past its declared result size');
      out.set(delta.subarray(pos, pos + op), written);
      written += op;
      pos += op;
    } else {
      throw new PackError('bad-delta', 'reserved delta instruction 0');
    }
  }
  if (written !== resultSize) {
    throw new PackError('bad-delta', `delta produced ${written} bytes, declared ${resultSize}`);
  }
  return out;
}
