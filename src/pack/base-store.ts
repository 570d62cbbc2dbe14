import type { PackObject } from './pack-reader.js';

type StoredObject = PackObject;

/**
 * Objects of one pack parse kept as possible delta bases, findable by offset (OFS_DELTA)
 * and by id (REF_DELTA). Any object may turn out to be a base, so all are kept until
 * `budget` bytes are exceeded; then the oldest are dropped and remembered as evicted, so a
 * delta that needs one fails with a clear reason instead of "missing".
 */
export class BaseStore {
  private readonly byOffset = new Map<number, StoredObject>();
  private readonly byOid = new Map<string, StoredObject>();
  private readonly evictedOffsets = new Set<number>();
  private readonly evictedOids = new Set<string>();
  private bytes = 0;
  /** Bytes held elsewhere that share the budget (deferred deltas). */
  reserved = 0;

  constructor(private readonly budget: number) {}

  get retainedBytes(): number {
    return this.bytes;
  }

  add(obj: StoredObject): void {
    if (obj.data.length > this.budget) {
      this.forget(obj);
      return;
    }
    this.byOffset.set(obj.offset, obj);
    this.byOid.set(obj.oid, obj);
    this.bytes += obj.data.length;
    this.shrink();
  }

  /** Evicts the oldest objects until retained plus reserved bytes fit the budget (or nothing is left). */
  shrink(): void {
    for (const oldest of this.byOffset.values()) {
      if (this.bytes + this.reserved <= this.budget) break;
      this.byOffset.delete(oldest.offset);
      if (this.byOid.get(oldest.oid) === oldest) this.byOid.delete(oldest.oid);
      this.bytes -= oldest.data.length;
      this.forget(oldest);
    }
  }

  byOffsetGet(offset: number): StoredObject | undefined {
    return this.byOffset.get(offset);
  }

  byOidGet(oid: string): StoredObject | undefined {
    return this.byOid.get(oid);
  }

  wasEvicted(key: { offset: number } | { oid: string }): boolean {
    return 'offset' in key ? this.evictedOffsets.has(key.offset) : this.evictedOids.has(key.oid);
  }

  private forget(obj: StoredObject): void {
    this.evictedOffsets.add(obj.offset);
    this.evictedOids.add(obj.oid);
  }
}
