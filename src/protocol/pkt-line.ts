// pkt-line framing (gitprotocol-common): a 4-hex-digit length that counts itself, then the payload.
// 0000 flush, 0001 delim, 0002 response-end (v2); 0003 is never valid; 0004 is an (unusual) empty data line.
// An `ERR <msg>` line may stand wherever a pkt-line is expected (gitprotocol-pack, also between side-band
// packets), so both decoders here turn it into a RemoteError, and no reader above has to look for it.
import { ProtocolError, RemoteError } from './errors.js';

export const FLUSH = Buffer.from('0000');
export const DELIM = Buffer.from('0001');
export const RESPONSE_END = Buffer.from('0002');
export const MAX_PKT_PAYLOAD = 65516;
export const MAX_PKT_LEN = MAX_PKT_PAYLOAD + 4;

export type Pkt =
  | { type: 'data'; payload: Buffer }
  | { type: 'flush' }
  | { type: 'delim' }
  | { type: 'response-end' };

/**
 * Sees each pkt a decoder hands over (before an `ERR` line is thrown as RemoteError), raw bytes that follow
 * pkt-lines, and the end of the stream: the hook of a packet trace.
 */
export interface PktObserver {
  pkt(pkt: Pkt): void;
  raw(bytes: Uint8Array): void;
  end(): void;
}

/** What encodePkts accepts: strings and bytes become data lines, Pkt objects are written as such. */
export type PktInput = string | Uint8Array | Pkt;

/** Frames one payload. Text lines should carry their own trailing LF. */
export function pktLine(data: string | Uint8Array): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (payload.length > MAX_PKT_PAYLOAD) {
    throw new RangeError(`pkt-line payload of ${payload.length} bytes exceeds ${MAX_PKT_PAYLOAD}`);
  }
  const out = Buffer.allocUnsafe(payload.length + 4);
  out.write((payload.length + 4).toString(16).padStart(4, '0'), 0, 'latin1');
  out.set(payload, 4);
  return out;
}

export function encodePkt(item: PktInput): Buffer {
  if (typeof item === 'string' || item instanceof Uint8Array) return pktLine(item);
  switch (item.type) {
    case 'flush': return FLUSH;
    case 'delim': return DELIM;
    case 'response-end': return RESPONSE_END;
    case 'data': return pktLine(item.payload);
  }
}

export function encodePkts(...items: PktInput[]): Buffer {
  return Buffer.concat(items.map(encodePkt));
}

/** Reads the 4-byte length header at `buf[at..at+4]`; throws on anything but lowercase/uppercase hex. */
function parseLength(buf: Uint8Array, at: number): number {
  let len = 0;
  for (let i = at; i < at + 4; i++) {
    const c = buf[i]!;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
    else throw new ProtocolError('bad-pkt-line', `invalid pkt-line length ${JSON.stringify(printable(buf.subarray(at, at + 4)))}`);
    len = len * 16 + d;
  }
  if (len === 3) throw new ProtocolError('bad-pkt-line', 'invalid pkt-line length 0003');
  if (len > MAX_PKT_LEN) throw new ProtocolError('bad-pkt-line', `pkt-line length ${len} exceeds ${MAX_PKT_LEN}`);
  return len;
}

function printable(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
}

function specialPkt(len: number): Pkt | undefined {
  if (len === 0) return { type: 'flush' };
  if (len === 1) return { type: 'delim' };
  if (len === 2) return { type: 'response-end' };
  return undefined;
}

/** Decodes a complete buffer of pkt-lines; trailing partial data is an error. */
export function decodePkts(buf: Uint8Array, observer?: PktObserver): Pkt[] {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Pkt[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 4) throw truncated();
    const len = parseLength(bytes, pos);
    const special = specialPkt(len);
    if (special) {
      observer?.pkt(special);
      out.push(special);
      pos += 4;
      continue;
    }
    if (bytes.length - pos < len) throw truncated();
    out.push(dataPkt(bytes.subarray(pos + 4, pos + len), observer));
    pos += len;
  }
  observer?.end();
  return out;
}

/** A data pkt, or the RemoteError an `ERR` line stands for. */
function dataPkt(payload: Buffer, observer: PktObserver | undefined): Pkt {
  const pkt: Pkt = { type: 'data', payload };
  observer?.pkt(pkt);
  const err = errPktMessage(payload);
  if (err !== undefined) throw new RemoteError(err);
  return pkt;
}

function truncated(): ProtocolError {
  return new ProtocolError('unexpected-eof', 'stream ended inside a pkt-line');
}

/** Payload as text without one trailing LF (receivers must accept lines with or without it). */
export function pktText(payload: Uint8Array): string {
  const end = payload.length > 0 && payload[payload.length - 1] === 0x0a ? payload.length - 1 : payload.length;
  return Buffer.from(payload.buffer, payload.byteOffset, end).toString('utf8');
}

/**
 * Streaming pkt-line decoder over a byte stream whose chunks may split lines anywhere.
 * Holds at most one pkt-line plus one source chunk in memory.
 */
export class PktReader implements AsyncIterable<Pkt> {
  private readonly iter: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private readonly observer: PktObserver | undefined;

  constructor(source: AsyncIterable<Uint8Array>, observer?: PktObserver) {
    this.iter = source[Symbol.asyncIterator]();
    this.observer = observer;
  }

  /** The next pkt, or null when the stream ends cleanly between pkts. */
  async next(): Promise<Pkt | null> {
    if (!(await this.fill(4))) {
      if (this.buffered === 0) {
        this.observer?.end();
        return null;
      }
      throw truncated();
    }
    const len = parseLength(this.peek4(), 0);
    const special = specialPkt(len);
    if (special) {
      this.take(4);
      this.observer?.pkt(special);
      return special;
    }
    if (!(await this.fill(len))) throw truncated();
    this.take(4);
    return dataPkt(this.take(len - 4), this.observer);
  }

  /** Unread bytes, then the rest of the source (for raw data that follows pkt-lines, e.g. a pack without side-band). */
  async *rest(): AsyncGenerator<Buffer> {
    try {
      while (this.chunks.length > 0) {
        const c = this.chunks.shift()!;
        this.buffered -= c.length;
        this.observer?.raw(c);
        yield c;
      }
      while (!this.ended) {
        const r = await this.iter.next();
        if (r.done) {
          this.ended = true;
          break;
        }
        if (r.value.length > 0) {
          this.observer?.raw(r.value);
          yield toBuffer(r.value);
        }
      }
    } finally {
      this.observer?.end();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Pkt> {
    for (let p = await this.next(); p; p = await this.next()) yield p;
  }

  /** Stops reading the source early (releases the underlying stream). */
  async close(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    if (!this.ended) {
      this.ended = true;
      await this.iter.return?.();
    }
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      const r = await this.iter.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      if (r.value.length === 0) continue;
      const b = toBuffer(r.value);
      this.chunks.push(b);
      this.buffered += b.length;
    }
    return true;
  }

  private peek4(): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first;
    const out = Buffer.alloc(4);
    let filled = 0;
    for (const c of this.chunks) {
      filled += c.copy(out, filled, 0, Math.min(c.length, 4 - filled));
      if (filled === 4) break;
    }
    return out;
  }

  /** Removes n buffered bytes; zero-copy when they lie in the first chunk. */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The message of an `ERR <msg>` pkt-line, which any server response may contain instead of what was expected.
 * A side-band packet never matches: its first byte is the channel (1-3), not `E`.
 */
export function errPktMessage(payload: Uint8Array): string | undefined {
  if (payload.length < 4 || payload[0] !== 0x45 || payload[1] !== 0x52 || payload[2] !== 0x52 || payload[3] !== 0x20) {
    return undefined;
  }
  return pktText(payload.subarray(4)).trim();
}
