import { Z_BUF_ERROR, Z_NO_FLUSH, Z_OK, Z_STREAM_END, ZStream, zlibInflate, zlibInflateInit, zlibInflateReset } from 'pako';
import { PackError } from './errors.js';
import type { ByteCursor } from './byte-cursor.js';

/**
 * Inflates consecutive zlib streams out of a ByteCursor. Pack entries do not record their
 * compressed length, so each stream's end is where zlib reports Z_STREAM_END; the bytes it
 * did not consume stay in the input for the next entry.
 */
export class StreamInflater {
  private readonly strm = new ZStream();
  // Receives output beyond the declared size; any byte landing here is an error.
  private readonly overflow = new Uint8Array(64);

  constructor() {
    if (zlibInflateInit(this.strm) !== Z_OK) throw new Error('zlib inflate init failed');
  }

  /** Inflates one stream whose output must be exactly `size` bytes, into one buffer of that size. */
  async inflate(input: ByteCursor, size: number): Promise<Buffer> {
    const strm = this.strm;
    zlibInflateReset(strm);
    const out = Buffer.allocUnsafe(size);
    let full = size === 0; // all `size` bytes are out: any further output is an error
    const target = (buf: Uint8Array<ArrayBuffer>): void => {
      strm.output = buf;
      strm.next_out = 0;
      strm.avail_out = buf.length;
    };
    target(full ? this.overflow : out);
    for (;;) {
      if (input.available === 0 && !(await input.fill())) {
        throw new PackError('truncated', `pack ended inside a zlib stream at offset ${input.offset}`);
      }
      strm.input = input.chunk;
      strm.next_in = input.pos;
      strm.avail_in = input.available;
      const outBefore = strm.next_out;
      let status: number;
      try {
        status = zlibInflate(strm, Z_NO_FLUSH);
      } catch (err) {
        throw new PackError('bad-zlib', `inflate failed: ${(err as Error).message}`);
      }
      const consumed = strm.next_in - input.pos;
      input.pos = strm.next_in;
      if (full && strm.next_out > 0) {
        throw new PackError('bad-size', `object inflates to more than its declared ${size} bytes`);
      }
      if (status !== Z_OK && status !== Z_BUF_ERROR && status !== Z_STREAM_END) {
        throw new PackError('bad-zlib', `inflate failed at offset ${input.offset}: ${strm.msg || status}`);
      }
      if (!full && strm.avail_out === 0) {
        // Past the declared size the stream may still end, but without further output.
        full = true;
        target(this.overflow);
      } else if (status !== Z_STREAM_END && consumed === 0 && strm.next_out === outBefore && input.available > 0) {
        throw new PackError('bad-zlib', `inflate made no progress at offset ${input.offset}`);
      }
      if (status === Z_STREAM_END) break;
    }
    if (!full) throw new PackError('bad-size', `object inflates to ${strm.next_out} bytes, declared ${size}`);
    return out;
  }
}
