import { createHash } from 'node:crypto';
import { PackError } from './errors.js';

const EMPTY = new Uint8Array(0);

/**
 * A cursor over an async stream of chunks that may split anywhere. It tracks the absolute
 * offset and hashes every byte consumed (until `digest()`), so the pack checksum is computed
 * incrementally. A chunk is hashed before the next one is requested, so producers may reuse
 * their buffers.
 */
export class ByteCursor {
  chunk: Uint8Array = EMPTY;
  pos = 0;
  private hashFrom = 0;
  private before = 0; // total length of the chunks before `chunk`
  private ended = false;
  private hashing = true;
  private readonly hash = createHash('sha1');
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  get offset(): number {
    return this.before + this.pos;
  }

  get available(): number {
    return this.chunk.length - this.pos;
  }

  /** Makes at least one byte available; false at the end of the stream. */
  async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.ended) return false;
      this.hashConsumed();
      this.before += this.chunk.length;
      this.chunk = EMPTY;
      this.pos = this.hashFrom = 0;
      const next = await this.it.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.chunk = next.value;
    }
    return true;
  }

  async byte(): Promise<number> {
    if (this.pos >= this.chunk.length && !(await this.fill())) throw truncated();
    return this.chunk[this.pos++]!;
  }

  async bytes(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (this.pos >= this.chunk.length && !(await this.fill())) throw truncated();
      const take = Math.min(n - got, this.chunk.length - this.pos);
      out.set(this.chunk.subarray(this.pos, this.pos + take), got);
      this.pos += take;
      got += take;
    }
    return out;
  }

  /** SHA-1 of every byte consumed so far; later bytes are not hashed. */
  digest(): Buffer {
    this.hashConsumed();
    this.hashing = false;
    return this.hash.digest();
  }

  /** Releases the source if it was not read to its end. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.it.return?.();
    } catch {
      // The parse already failed or finished; a source that cannot be closed cleanly changes nothing.
    }
  }

  private hashConsumed(): void {
    if (this.hashing && this.pos > this.hashFrom) {
      this.hash.update(this.chunk.subarray(this.hashFrom, this.pos));
    }
    this.hashFrom = this.pos;
  }
}

function truncated(): PackError {
  return new PackError('truncated', 'pack ended early');
}
