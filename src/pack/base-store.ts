import type { PackObject } from './pack-reader.js';

type StoredObject = PackObject;

/**
 * What one kept object costs beyond its content: the object, its id string and two map entries.
 * Counting it makes the budget hold for packs of millions of tiny objects, whose content alone is
 * almost nothing (measured at about 400 bytes on Node 20; rounded up).
 */
export const ENTRY_OVERHEAD = 512;
/** What remembering one evicted object costs (its offset and id in two sets). */
const EVICTED_KEY_COST = 128;

/** Budget cost of an object or a deferred delta. */
export function costOf(obj: { data: Uint8Array }): number {
  return obj.data.length + ENTRY_OVERHEAD;
}

/**
 * Objects of one pack parse kept as possible delta bases, findable by offset (OFS_DELTA)
 * and by id (REF_DELTA). Any object may turn out to be a base, so all are kept until
 * `budget` bytes are exceeded; then the oldest are dropped and remembered as evicted, so a
 * delta that needs one fails with a clear reason instead of "missing". The evicted keys are
 * remembered within a second `budget` of memory; past that, `lostTrack` is set and any missing
 * base may be an evicted one.
 */
export class BaseStore {
  private readonly byOffset = new Map<number, StoredObject>();
  private readonly byOid = new Map<string, StoredObject>();
  private readonly evictedOffsets = new Set<number>();
  private readonly evictedOids = new Set<string>();
  private readonly maxTracked: number;
  private bytes = 0;
  /** Bytes held elsewhere that share the budget (deferred deltas, counted with `costOf`). */
  reserved = 0;
  /** Set once more objects were evicted than could be remembered. */
  lostTrack = false;

  constructor(private readonly budget: number) {
    this.maxTracked = Math.floor(budget / EVICTED_KEY_COST);
  }

  get retainedBytes(): number {
    return this.bytes;
  }

  /** Objects currently kept. */
  get size(): number {
    return this.byOffset.size;
  }

  /** Evicted objects remembered by key. */
  get trackedEvictions(): number {
    return this.evictedOffsets.size;
  }

  add(obj: StoredObject): void {
    if (costOf(obj) > this.budget) {
      this.forget(obj);
      return;
    }
    this.byOffset.set(obj.offset, obj);
    this.byOid.set(obj.oid, obj);
    this.bytes += costOf(obj);
    this.shrink();
  }

  /** Evicts the oldest objects until retained plus reserved bytes fit the budget (or nothing is left). */
  shrink(): void {
    for (const oldest of this.byOffset.values()) {
      if (this.bytes + this.reserved <= this.budget) break;
      this.byOffset.delete(oldest.offset);
      if (this.byOid.get(oldest.oid) === oldest) this.byOid.delete(oldest.oid);
      this.bytes -= costOf(oldest);
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
    if (this.evictedOffsets.size >= this.maxTracked) {
      this.lostTrack = true;
      return;
    }
    this.evictedOffsets.add(obj.offset);
    this.evictedOids.add(obj.oid);
  }
}
