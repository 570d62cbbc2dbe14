/**
 * A least-recently-used cache of immutable Git objects, bounded in bytes.
 *
 * Objects are addressed by their id, so an entry never goes stale: only the branch tip is mutable and
 * that is never cached here. A Map keeps insertion order, which doubles as recency order when a hit
 * re-inserts its entry.
 */
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
    const old = this.#entries.get(oid);
    if (old !== undefined) {
      this.#entries.delete(oid);
      this.#bytes -= old.length;
    }
    this.#entries.set(oid, data);
    this.#bytes += data.length;
    for (const [key, value] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(key);
      this.#bytes -= value.length;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
