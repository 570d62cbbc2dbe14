/**
 * A least-recently-used cache of immutable Git objects, bounded in bytes.
 *
 * Objects are addressed by their id, so an entry never goes stale: only the branch tip is mutable and
 * that is never cached here. A Map keeps insertion order, which doubles as recency order when a hit
 * re-inserts its entry.
 */
/** What one entry costs beside its bytes (the key string, the Map slot, the Buffer object), roughly. */
const ENTRY_OVERHEAD = 160;

export class ObjectCache {
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number, readonly maxObjectBytes = Math.max(0, Math.floor(maxBytes / 8))) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(oid: string): Buffer | undefined {
    const data = this.#entries.get(oid);
    if (data === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#entries.delete(oid);
    this.#entries.set(oid, data);
    return data;
  }

  has(oid: string): boolean {
    return this.#entries.has(oid);
  }

  /** Stores `data` unless it is larger than one object may be; evicts the least recently used entries. */
  set(oid: string, data: Buffer): void {
    if (data.length > this.maxObjectBytes || data.length > this.maxBytes) return;
    this.#delete(oid);
    const owned = ownBytes(data);
    this.#entries.set(oid, owned);
    this.#bytes += costOf(owned);
    for (const [key] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#delete(key);
    }
  }

  #delete(oid: string): void {
    const old = this.#entries.get(oid);
    if (old === undefined) return;
    this.#entries.delete(oid);
    this.#bytes -= costOf(old);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

const costOf = (data: Buffer): number => data.length + ENTRY_OVERHEAD;

/**
 * A small Buffer is often a view into a larger one (Node's 8 KiB allocation pool, a network chunk): kept in
 * the cache it would keep all of that alive. Such views are copied into memory of their own.
 */
function ownBytes(data: Buffer): Buffer {
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  const copy = Buffer.allocUnsafeSlow(data.length);
  data.copy(copy);
  return copy;
}
