/**
 * Adaptive, parallel streaming deflate: one zlib stream whose parameters follow the data, 64 KiB window by
 * window, deflated in segments on several threads. A cheap estimate over a sample of each window picks how
 * it is deflated: stored when it looks incompressible (written here, without zlib), Huffman-only when its
 * bytes are skewed but do not repeat (base64, hex), level 1 when it repeats (text, structured data).
 * Deflating random bytes at level 1 costs many times what storing them does.
 *
 * `npm run zlib-bench` prints this against one level-1 node:zlib stream (BENCHMARKS.md). Of the
 * bytes, the main thread only samples windows and checksums stored runs; zlib deflates on the thread pool.
 */
import { availableParallelism } from 'node:os';
import { once } from 'node:events';
import { constants, createDeflate, type ZlibOptions } from 'node:zlib';

/** zlib level for the windows worth compressing: git keeps the bytes as sent, so size is traded for time. */
export const STREAM_DEFLATE_LEVEL = 1;

/** Input is judged, and the parameters possibly switched, once per window of this many bytes. */
export const ADAPTIVE_WINDOW = 64 * 1024;
/** Most bytes in one segment (deflated in one trip to the thread pool). */
const RUN = 512 * 1024;

export type DeflateMode = 'store' | 'huffman' | 'fast';

// memLevel 9 (a hash table twice zlib's default) makes level 1 faster on data that mixes repeats and noise, at
// the same ratio (BENCHMARKS.md, "Decisions in the code"); it costs 256 KiB more per segment being deflated.
const SETTINGS: Record<Exclude<DeflateMode, 'store'>, ZlibOptions> = {
  huffman: { level: STREAM_DEFLATE_LEVEL, strategy: constants.Z_HUFFMAN_ONLY },
  fast: { level: STREAM_DEFLATE_LEVEL, memLevel: 9 },
};

// The sample: SLICES runs of SLICE bytes spread over the window (the whole window when it is smaller).
const SLICE = 1024;
const SLICES = 4;
/** At least this share of sampled positions starting a 4-byte sequence seen before: worth LZ matching. */
const MIN_REPEATS = 0.2;
/** At most this many bits per byte (order-0 entropy): Huffman coding alone saves at least 10%. */
const MAX_HUFFMAN_BITS = 7.2;

const counts = new Int32Array(256);
const seen = new Int32Array(4096);
/** c·log2(c) for every count a sample can reach, so the entropy needs no logarithm per window. */
const C_LOG2_C = Float64Array.from({ length: SLICE * SLICES + 1 }, (_, c) => (c > 0 ? c * Math.log2(c) : 0));

/**
 * How a window should be deflated, judged from a sample of it: the share of 4-byte sequences that
 * recur within the sample (what LZ matching would find) and the byte histogram's entropy (what Huffman
 * coding alone would save). Pure and synchronous; about 4 KiB of work whatever the window's size.
 */
export function chooseMode(window: Uint8Array): DeflateMode {
  counts.fill(0);
  seen.fill(0);
  const whole = window.length <= SLICE * SLICES;
  const stride = Math.floor(window.length / SLICES);
  let sampled = 0;
  let repeats = 0;
  for (let s = 0; s < (whole ? 1 : SLICES); s++) {
    const start = s * stride;
    const end = whole ? window.length : start + SLICE;
    let last4 = 0;
    for (let i = start; i < end; i++) {
      const byte = window[i]!;
      counts[byte]!++;
      last4 = (last4 << 8) | byte;
      if (i - start < 3) continue;
      // A one-way table of recent 4-byte sequences; a miss only undercounts.
      const slot = Math.imul(last4, 0x9e3779b1) >>> 20;
      if (seen[slot] === last4) repeats++;
      else seen[slot] = last4;
    }
    sampled += end - start;
  }
  // Too few bytes to judge (the entropy of a short sample reads low), and too few for the choice to matter.
  if (sampled < SLICE) return 'fast';
  if (repeats >= MIN_REPEATS * sampled) return 'fast';
  let sum = 0;
  for (let b = 0; b < 256; b++) sum += C_LOG2_C[counts[b]!]!;
  const bitsPerByte = Math.log2(sampled) - sum / sampled;
  return bitsPerByte <= MAX_HUFFMAN_BITS ? 'huffman' : 'store';
}

/**
 * zlib-deflates a stream of bytes into exactly one zlib stream, choosing the parameters per window (see
 * chooseMode). Runs of alike windows are deflated as independent segments, several at once on libuv's
 * thread pool, so a large body uses more than one core (see deflateSegment). Each segment ends with a sync
 * flush (a byte boundary, no final bit), and one compressed as LZ gets the 32 KiB before it as its
 * dictionary, so matches still reach back across the cut. The segments are joined between a zlib header and
 * an empty final block plus the Adler-32 of the whole input (combined from each segment's, which zlib
 * computes): one stream that inflates to the input.
 * An error from `chunks` ends the output with that same error.
 */
export async function* adaptiveDeflate(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  // Settled in order; each has a handler attached at once, so one abandoned by an early return or an
  // error is never an unhandled rejection.
  const pending: Promise<Segment>[] = [];
  let adler = 1;
  let before: Buffer | undefined;
  // The header goes out with the first segment: nothing is yielded before the source has been read.
  let header: Buffer | undefined = Buffer.from(ZLIB_HEADER);
  const next = async (): Promise<Buffer[]> => {
    const segment = await pending.shift()!;
    adler = adler32Combine(adler, segment.adler, segment.length);
    if (header === undefined) return segment.parts;
    const first = [header, ...segment.parts];
    header = undefined;
    return first;
  };
  for await (const run of runs(chunks)) {
    let segment: Promise<Segment>;
    if (run.mode === 'store') {
      segment = Promise.resolve({ parts: storedBlocks(run.bytes), adler: adler32(1, run.bytes), length: run.bytes.length });
    } else {
      await deflateSlot();
      segment = deflateSegment(run.bytes, run.mode, run.mode === 'fast' ? before : undefined).finally(releaseDeflateSlot);
    }
    segment.catch(() => {});
    pending.push(segment);
    before = lastBytes(before, run.bytes, DICTIONARY_BYTES);
    if (pending.length >= IN_FLIGHT) yield* await next();
  }
  while (pending.length > 0) yield* await next();
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32BE(adler);
  yield Buffer.concat([header ?? Buffer.alloc(0), FINAL_EMPTY_BLOCK, trailer]);
}

/** CMF/FLG of a zlib stream with a 32 KiB window, no preset dictionary and the "fastest" level hint. */
const ZLIB_HEADER = [0x78, 0x01];
/** An empty fixed-Huffman block with the final bit set: ends the raw deflate data. */
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
/** How far back deflate can refer: the most of the previous input a segment can use. */
const DICTIONARY_BYTES = 32 * 1024;
/**
 * Segments of one stream in flight (each holding RUN bytes of input), and segments being deflated at once in
 * the whole process (each also holding zlib's state and an output buffer): one per core, at least two so that
 * one is deflated while the next is read and judged, and at most three so that libuv's pool of four threads
 * keeps one for file I/O. Many large bodies at once then share those threads instead of each adding its own
 * segments. More than one in flight made 10 MiB POSTs faster, more than two did not (BENCHMARKS.md, "Decisions in
 * the code").
 */
const IN_FLIGHT = Math.min(3, Math.max(2, availableParallelism()));

let deflating = 0;
const waiting: (() => void)[] = [];

/** Waits for one of the process-wide deflate slots; give it back with releaseDeflateSlot. */
async function deflateSlot(): Promise<void> {
  if (deflating < IN_FLIGHT) deflating++;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // handed over by a release, still counted
}

function releaseDeflateSlot(): void {
  const next = waiting.shift();
  if (next === undefined) deflating--;
  else next();
}

/** One run deflated: raw deflate data ending on a byte boundary, no block final, and the run's Adler-32. */
interface Segment {
  parts: Buffer[];
  adler: number;
  length: number;
}

/**
 * Deflates one run as a zlib stream of its own on the thread pool (input, then a sync flush, then the end) and
 * takes it apart: the 2-byte header (6 with a dictionary's id) and, after the sync flush, the empty final block
 * and the Adler-32 that Z_FINISH adds. The checksum comes from zlib, so the main thread never reads these bytes.
 */
async function deflateSegment(data: Buffer, mode: Exclude<DeflateMode, 'store'>, dictionary: Buffer | undefined): Promise<Segment> {
  const z = createDeflate({
    ...SETTINGS[mode],
    // One output buffer that fits the whole segment: each one filled is a trip back from the thread pool.
    chunkSize: Math.max(64 * 1024, data.length + (data.length >> 6) + 1024),
    ...(dictionary === undefined ? {} : { dictionary }),
  });
  const out: Buffer[] = [];
  z.on('data', (part: Buffer) => out.push(part));
  const ended = once(z, 'end');
  z.write(data);
  // end() only once the flush is done: a flush still queued when the stream ends is merged into Z_FINISH.
  z.flush(constants.Z_SYNC_FLUSH, () => z.end());
  await ended;
  return splitSegment(out.length === 1 ? out[0]! : Buffer.concat(out), data.length);
}

/** A sync flush ends with an empty stored block, whose length fields are these bytes. */
const SYNC_MARK = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The parts of one segment's zlib stream (see deflateSegment); throws if zlib wrote anything else. */
export function splitSegment(z: Buffer, length: number): Segment {
  const headerLength = z.length > 1 && (z[1]! & 0x20) !== 0 ? 6 : 2; // FDICT: a dictionary id follows
  const final = FINAL_EMPTY_BLOCK; // what Z_FINISH writes after a sync flush, at level 1
  const end = z.length - 4 - final.length;
  if (end - SYNC_MARK.length < headerLength || !z.subarray(end, end + final.length).equals(final) ||
    !z.subarray(end - SYNC_MARK.length, end).equals(SYNC_MARK)) {
    throw new Error('zlib ended a segment other than with a sync flush and an empty final block');
  }
  return { parts: [z.subarray(headerLength, end)], adler: z.readUInt32BE(z.length - 4), length };
}

/**
 * `data` as stored deflate blocks, none final, each a 5-byte header and a view of up to 65535 input bytes:
 * what zlib's level 0 writes, without copying the bytes (a stored run needs no zlib state nor output buffer).
 */
export function storedBlocks(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += MAX_STORED) {
    const len = Math.min(MAX_STORED, data.length - pos);
    const head = Buffer.alloc(5); // BFINAL 0, BTYPE 00, padded to the byte; then LEN and NLEN, little-endian
    head.writeUInt16LE(len, 1);
    head.writeUInt16LE(len ^ 0xffff, 3);
    out.push(head, data.subarray(pos, pos + len));
  }
  return out;
}

const MAX_STORED = 0xffff;

/**
 * Adler-32 (RFC 1950) of `data` continuing from `adler`, for stored runs (about 1 GB/s here; zlib computes it
 * for the runs it deflates). Sums are reduced every 5552 bytes, the most that cannot overflow.
 */
export function adler32(adler: number, data: Uint8Array): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** The last `n` bytes of `prev` followed by `next`. */
function lastBytes(prev: Buffer | undefined, next: Buffer, n: number): Buffer {
  if (next.length >= n || prev === undefined) return Buffer.from(next.subarray(Math.max(0, next.length - n)));
  return Buffer.concat([prev.subarray(Math.max(0, prev.length - (n - next.length))), next]);
}

/**
 * The Adler-32 of two byte strings one after the other, from the checksum of each and the second one's length
 * (as zlib's adler32_combine): the sum of bytes carries over, and the sum of sums gains the first sum once per
 * byte of the second.
 */
export function adler32Combine(first: number, second: number, secondLength: number): number {
  const BASE = 65521;
  const n = secondLength % BASE;
  const a1 = first & 0xffff;
  const b1 = first >>> 16;
  const a = (a1 + (second & 0xffff) + BASE - 1) % BASE;
  const b = (b1 + (second >>> 16) + n * a1 + BASE - n) % BASE;
  return ((b << 16) | a) >>> 0;
}

/**
 * Consecutive windows judged alike, joined into one segment of up to RUN bytes: each segment is a trip to
 * the thread pool, which costs more than storing 64 KiB.
 */
async function* runs(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<{ mode: DeflateMode; bytes: Buffer }> {
  let run: Buffer[] = [];
  let runLength = 0;
  let runMode: DeflateMode = 'fast';
  const take = (): { mode: DeflateMode; bytes: Buffer } => {
    const bytes = run.length === 1 ? run[0]! : Buffer.concat(run, runLength);
    run = [];
    runLength = 0;
    return { mode: runMode, bytes };
  };
  for await (const window of windows(chunks, ADAPTIVE_WINDOW)) {
    const mode = chooseMode(window);
    if (runLength > 0 && mode !== runMode) yield take();
    runMode = mode;
    run.push(window);
    runLength += window.length;
    if (runLength >= RUN) yield take();
  }
  if (runLength > 0) yield take();
}

/** Re-cuts a byte stream into windows of exactly `size` bytes (the last one shorter), copying only to join. */
async function* windows(chunks: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingLength = 0;
  for await (const chunk of chunks) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (pendingLength > 0) {
      const take = Math.min(size - pendingLength, rest.length);
      pending.push(rest.subarray(0, take));
      pendingLength += take;
      rest = rest.subarray(take);
      if (pendingLength < size) continue;
      yield Buffer.concat(pending, size);
      pending = [];
      pendingLength = 0;
    }
    for (; rest.length >= size; rest = rest.subarray(size)) yield rest.subarray(0, size);
    if (rest.length > 0) {
      pending.push(rest);
      pendingLength = rest.length;
    }
  }
  if (pendingLength > 0) yield Buffer.concat(pending, pendingLength);
}
