import { BaseStore, costOf } from './base-store.js';
import { applyDelta } from './delta.js';
import { PackError } from './errors.js';
import { StreamInflater } from './inflate.js';
import { inflateToEnd } from './inflate-to-end.js';
import type { ObjectType } from './object.js';
import { hashObject, ObjectHasher } from './oid.js';
import { releasing, type ReleasingStream } from './release-stream.js';
import {
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  PACK_HEADER_SIZE,
  PACK_SIGNATURE,
  PACK_TRAILER_SIZE,
  typeFromCode,
} from './pack-format.js';
import { ByteCursor } from './byte-cursor.js';

export interface PackObject {
  type: ObjectType;
  oid: string;
  /** The whole object content. It is also kept as a delta base until the parse ends: do not mutate it. */
  data: Buffer;
  /** Offset of the entry in the pack. */
  offset: number;
  /** Delta chain length: 0 for an object stored whole. */
  depth: number;
  /** How the entry was stored, when it was a delta. */
  delta?: 'ofs' | 'ref';
}

export interface PackReaderOptions {
  /** Largest object (or delta) accepted; bigger declared or delta-result sizes fail with 'too-large'. */
  maxObjectSize?: number;
  /** Longest delta chain accepted; deeper fails with 'bad-delta'. */
  maxDeltaDepth?: number;
  /** Largest object count accepted in the pack header. */
  maxObjects?: number;
  /** Bytes of objects kept as possible delta bases (plus deferred deltas) during the parse. */
  maxRetainedBytes?: number;
}

export const DEFAULT_READER_LIMITS: Required<PackReaderOptions> = {
  maxObjectSize: 2 ** 31 - 1,
  maxDeltaDepth: 50,
  maxObjects: 10_000_000,
  maxRetainedBytes: 512 * 1024 * 1024,
};

type BaseRef = { offset: number } | { oid: string };

/** One pack entry as stored: whole (type set) or a delta against `base`. */
interface RawEntry {
  offset: number;
  type?: ObjectType;
  base?: BaseRef;
  data: Buffer;
}

/**
 * Parses a version 2 pack from a stream of chunks split anywhere, yielding every object
 * (deltas resolved) as soon as it can be built. The trailing SHA-1 is verified before the
 * generator completes, so a consumer must not trust the objects until iteration ends without
 * error. Malformed input rejects with a PackError.
 */
export async function* readPack(
  source: AsyncIterable<Uint8Array>,
  opts: PackReaderOptions = {},
): AsyncGenerator<PackObject> {
  const limits = { ...DEFAULT_READER_LIMITS, ...definedOnly(opts) };
  const input = new ByteCursor(source);
  try {
    const count = await readPackHeader(input, limits.maxObjects);
    const resolver = new DeltaResolver(limits);
    const inflater = new StreamInflater();
    for (let i = 0; i < count; i++) {
      const entry = await readEntry(input, inflater, limits.maxObjectSize);
      yield* resolver.add(entry);
    }
    resolver.finish();
    await readTrailer(input);
  } finally {
    await input.close();
  }
}

function definedOnly(opts: PackReaderOptions): PackReaderOptions {
  return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}

async function readPackHeader(input: ByteCursor, maxObjects: number): Promise<number> {
  const header = await input.bytes(PACK_HEADER_SIZE);
  if (!header.subarray(0, 4).equals(PACK_SIGNATURE)) throw new PackError('bad-header', 'not a pack (bad signature)');
  const version = header.readUInt32BE(4);
  // gitformat-pack: readers accept versions 2 and 3, which share this layout.
  if (version !== 2 && version !== 3) throw new PackError('bad-header', `unsupported pack version ${version}`);
  const count = header.readUInt32BE(8);
  if (count > maxObjects) throw new PackError('too-large', `pack declares ${count} objects, limit is ${maxObjects}`);
  return count;
}

async function readEntry(input: ByteCursor, inflater: StreamInflater, maxObjectSize: number): Promise<RawEntry> {
  const { offset, type, base, size } = await readEntryHeader(input, maxObjectSize);
  const entry: RawEntry = { offset, data: await inflater.inflate(input, size) };
  if (type !== undefined) entry.type = type;
  if (base !== undefined) entry.base = base;
  return entry;
}

/** An entry's header: its type (or delta base) and the inflated size; the zlib stream follows it. */
async function readEntryHeader(
  input: ByteCursor,
  maxObjectSize: number,
): Promise<{ offset: number; type?: ObjectType; base?: BaseRef; size: number }> {
  const offset = input.offset;
  // Type and size: 3 type bits and 4 size bits, then 7 more size bits per continuation byte.
  let byte = await input.byte();
  const code = (byte >> 4) & 7;
  let size = byte & 15;
  let scale = 16;
  while (byte & 0x80) {
    if (scale > Number.MAX_SAFE_INTEGER) throw new PackError('bad-header', `object size overflows at offset ${offset}`);
    byte = await input.byte();
    size += (byte & 0x7f) * scale;
    scale *= 128;
  }
  let type: ObjectType | undefined;
  let base: BaseRef | undefined;
  if (code === OBJ_OFS_DELTA) {
    // Base distance: big-endian 7-bit groups, each continuation adding 1 (so encodings are unique).
    byte = await input.byte();
    let distance = byte & 0x7f;
    while (byte & 0x80) {
      byte = await input.byte();
      distance = (distance + 1) * 128 + (byte & 0x7f);
      if (distance > offset) throw new PackError('bad-delta', `OFS_DELTA at ${offset} points before the pack`);
    }
    if (distance === 0 || offset - distance < PACK_HEADER_SIZE) {
      throw new PackError('bad-delta', `OFS_DELTA at ${offset} has invalid base distance ${distance}`);
    }
    base = { offset: offset - distance };
  } else if (code === OBJ_REF_DELTA) {
    base = { oid: (await input.bytes(20)).toString('hex') };
  } else {
    type = typeFromCode(code);
    if (!type) throw new PackError('bad-object', `invalid object type ${code} at offset ${offset}`);
  }
  if (size > maxObjectSize) {
    throw new PackError('too-large', `object at offset ${offset} declares ${size} bytes, limit is ${maxObjectSize}`);
  }
  return { offset, size, ...(type === undefined ? {} : { type }), ...(base === undefined ? {} : { base }) };
}

/** A whole object whose content is streamed rather than held. */
export interface StreamedObject {
  type: ObjectType;
  size: number;
  /**
   * The content in bounded chunks. The last chunk is held back until the object id and the pack checksum
   * are verified, so a consumer that forwards the chunks never delivers a complete but unverified object.
   * Stopping early releases the source.
   */
  stream: ReleasingStream<Buffer>;
}

// node:zlib rather than pako here: a one-object pack's end is known, and native zlib inflates large blobs several
// times as fast (BENCHMARKS.md, "Decisions in the code").
/**
 * Reads a pack holding exactly one whole object, as a fetch of one blob by id returns, without holding the
 * object in memory: a 100 MiB blob passes through in chunks of at most `chunkSize` bytes.
 * Such a pack is header, entry header, one zlib stream, then the 20-byte checksum; so the last 20 bytes are
 * held back and everything before them goes to node:zlib, which must end its stream exactly there.
 */
export async function readSingleObjectPack(
  source: AsyncIterable<Uint8Array>,
  expectedOid: string,
  opts: PackReaderOptions & { chunkSize?: number } = {},
): Promise<StreamedObject> {
  const limits = { ...DEFAULT_READER_LIMITS, ...definedOnly(opts) };
  const body = new WithoutTrailer(source);
  const input = new ByteCursor(body);
  try {
    const count = await readPackHeader(input, limits.maxObjects);
    if (count !== 1) throw new PackError('bad-count', `expected a pack of one object, got ${count}`);
    const { type, size } = await readEntryHeader(input, limits.maxObjectSize);
    if (type === undefined) throw new PackError('missing-base', 'the only object of the pack is a delta');
    const content = async function* (): AsyncGenerator<Buffer> {
      const hasher = new ObjectHasher(type, size);
      let held: Buffer | undefined;
      for await (const chunk of inflateToEnd(input, size, opts.chunkSize)) {
        hasher.update(chunk);
        if (held !== undefined) yield held;
        held = chunk;
      }
      const oid = hasher.digest();
      if (oid !== expectedOid) throw new PackError('bad-object', `expected object ${expectedOid}, got ${oid}`);
      // The cursor has hashed every byte before the held-back trailer.
      if (!body.trailer?.equals(input.digest())) throw new PackError('bad-trailer', 'pack checksum mismatch');
      if (held !== undefined) yield held;
    };
    // Ended, failed or abandoned (even before the first read), the content releases the source.
    return { type, size, stream: releasing(content(), () => input.close()) };
  } catch (err) {
    await input.close();
    throw err;
  }
}

/**
 * Passes a pack through except its last PACK_TRAILER_SIZE bytes, which it keeps as `trailer` once the source
 * has ended. The bytes passed on are the source's own buffers (not copies); the kept tail is copied, since a
 * source may reuse a buffer once the next one is asked for.
 */
class WithoutTrailer implements AsyncIterable<Uint8Array> {
  /** The last PACK_TRAILER_SIZE bytes, set when the source has ended with at least that many. */
  trailer: Buffer | undefined;

  constructor(private readonly source: AsyncIterable<Uint8Array>) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let tail = Buffer.alloc(0);
    for await (const chunk of this.source) {
      if (chunk.length >= PACK_TRAILER_SIZE) {
        const cut = chunk.length - PACK_TRAILER_SIZE;
        const before = tail;
        tail = Buffer.from(chunk.subarray(cut));
        if (before.length > 0) yield before;
        if (cut > 0) yield chunk.subarray(0, cut);
      } else {
        const joined = Buffer.concat([tail, chunk]);
        const cut = Math.max(0, joined.length - PACK_TRAILER_SIZE);
        tail = joined.subarray(cut);
        if (cut > 0) yield joined.subarray(0, cut);
      }
    }
    if (tail.length === PACK_TRAILER_SIZE) this.trailer = tail;
  }
}

async function readTrailer(input: ByteCursor): Promise<void> {
  const computed = input.digest();
  const trailer = await input.bytes(PACK_TRAILER_SIZE);
  if (!trailer.equals(computed)) throw new PackError('bad-trailer', 'pack checksum mismatch');
  if (await input.fill()) throw new PackError('bad-trailer', 'unexpected data after the pack checksum');
}

/**
 * Turns raw entries into objects. A delta whose base has not been seen yet (a REF_DELTA base
 * later in the pack, or an OFS_DELTA on such a delta) waits until its base is built.
 */
class DeltaResolver {
  private readonly store: BaseStore;
  private readonly waiting = new Map<string, RawEntry[]>();
  private readonly waitingOffsets = new Set<number>();

  constructor(private readonly limits: Required<PackReaderOptions>) {
    this.store = new BaseStore(limits.maxRetainedBytes);
  }

  *add(entry: RawEntry): Generator<PackObject> {
    if (entry.type) {
      const obj = { type: entry.type, oid: hashObject(entry.type, entry.data), data: entry.data, offset: entry.offset, depth: 0 };
      yield* this.publish(obj);
      return;
    }
    const base = this.lookup(entry.base!);
    if (base) yield* this.publish(this.resolve(base, entry));
    else this.defer(entry);
  }

  finish(): void {
    for (const [key] of this.waiting) {
      if (this.store.lostTrack) {
        throw new PackError('too-large', `delta base ${key} is not in the pack or was dropped to stay within maxRetainedBytes`);
      }
      throw new PackError('missing-base', `delta base ${key} is not in the pack`);
    }
  }

  private lookup(ref: BaseRef): PackObject | undefined {
    const found = 'offset' in ref ? this.store.byOffsetGet(ref.offset) : this.store.byOidGet(ref.oid);
    if (!found && this.store.wasEvicted(ref)) {
      throw new PackError('too-large', `delta base ${keyOf(ref)} was dropped to stay within maxRetainedBytes`);
    }
    return found;
  }

  private defer(entry: RawEntry): void {
    const ref = entry.base!;
    if ('offset' in ref && !this.waitingOffsets.has(ref.offset)) {
      if (this.store.lostTrack) {
        throw new PackError('too-large', `OFS_DELTA base at ${ref.offset} is not an object or was dropped to stay within maxRetainedBytes`);
      }
      throw new PackError('bad-delta', `OFS_DELTA at ${entry.offset} points to ${ref.offset}, which is not an object`);
    }
    const key = keyOf(ref);
    const list = this.waiting.get(key) ?? [];
    list.push(entry);
    this.waiting.set(key, list);
    this.waitingOffsets.add(entry.offset);
    this.store.reserved += costOf(entry);
    if (this.store.reserved > this.limits.maxRetainedBytes) {
      throw new PackError('too-large', 'deltas waiting for their bases exceed maxRetainedBytes');
    }
    this.store.shrink();
  }

  /**
   * Stores and yields `obj`, then builds and yields everything waiting on it, depth first: each object
   * is handed over before the next is built, so many deltas waiting on one base (each of which may
   * expand to maxObjectSize) never exist all at once. Recursion is bounded by maxDeltaDepth.
   */
  private *publish(obj: PackObject): Generator<PackObject> {
    this.store.add(obj);
    yield obj;
    for (const key of [keyOf({ offset: obj.offset }), keyOf({ oid: obj.oid })]) {
      const deltas = this.waiting.get(key);
      if (!deltas) continue;
      this.waiting.delete(key);
      for (const d of deltas) {
        this.store.reserved -= costOf(d);
        this.waitingOffsets.delete(d.offset);
        yield* this.publish(this.resolve(obj, d));
      }
    }
  }

  private resolve(base: PackObject, delta: RawEntry): PackObject {
    const depth = base.depth + 1;
    if (depth > this.limits.maxDeltaDepth) {
      throw new PackError('bad-delta', `delta chain at offset ${delta.offset} exceeds depth ${this.limits.maxDeltaDepth}`);
    }
    const data = applyDelta(base.data, delta.data, this.limits.maxObjectSize);
    return {
      type: base.type,
      oid: hashObject(base.type, data),
      data,
      offset: delta.offset,
      depth,
      delta: 'offset' in delta.base! ? 'ofs' : 'ref',
    };
  }
}

function keyOf(ref: BaseRef): string {
  return 'offset' in ref ? `offset ${ref.offset}` : `object ${ref.oid}`;
}
