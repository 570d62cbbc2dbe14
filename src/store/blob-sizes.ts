/**
 * Sizes of blobs by id, remembered so that a HEAD can answer Content-Length without fetching the blob. A
 * blob's size never changes, so an entry never goes stale; the map is bounded by count, oldest use out first
 * (a Map keeps insertion order, and a hit re-inserts its entry). About 150 bytes an entry.
 */
export class BlobSizes {
  readonly #sizes = new Map<string, number>();

  constructor(readonly maxEntries: number) {}

  get(oid: string): number | undefined {
    const size = this.#sizes.get(oid);
    if (size !== undefined) {
      this.#sizes.delete(oid);
      this.#sizes.set(oid, size);
    }
    return size;
  }

  set(oid: string, size: number): void {
    if (this.maxEntries <= 0) return;
    this.#sizes.delete(oid);
    this.#sizes.set(oid, size);
    if (this.#sizes.size > this.maxEntries) this.#sizes.delete(this.#sizes.keys().next().value!);
  }

  get size(): number {
    return this.#sizes.size;
  }
}
