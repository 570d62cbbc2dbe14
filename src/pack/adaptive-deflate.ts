/**
 * Adaptive streaming deflate: one zlib stream whose parameters follow the data, 64 KiB window by window.
 * A cheap estimate over a sample of each window picks how it is deflated: stored (level 0) when it looks
 * incompressible, Huffman-only when its bytes are skewed but do not repeat (base64, hex), level 1 when
 * it repeats (text, structured data). Deflating random bytes at level 1 costs twenty times storing them.
 *
 * Measured on the development machine (2 shared cores): MB/s of input and output/input ratio, a level-1
 * createDeflate stream (before) → adaptiveDeflate (after), 64 MiB fed in 64 KiB chunks, best of 3, as
 * printed by `MIB=64 REPS=3 node bench.mjs` (an uncommitted script run against a build of this file):
 *   random bytes:                          45 MB/s 1.000 → 658 MB/s 1.000  (stored)
 *   JSON lines:                           184 MB/s 0.215 → 208 MB/s 0.215  (level 1)
 *   random and JSON in 512-byte blocks:    71 MB/s 0.652 →  77 MB/s 0.652  (level 1: every window repeats)
 *   random and JSON in 1 MiB blocks:       73 MB/s 0.609 → 306 MB/s 0.608  (stored, then level 1, ...)
 *   base64 of random bytes:                50 MB/s 0.753 → 184 MB/s 0.753  (Huffman only)
 * and stageBody of a 100 MiB random body (hash, deflate, spool): 2.5–2.8 s → 0.24–0.33 s.
 */
import { constants, createDeflate, type Deflate } from 'node:zlib';

/** zlib level for the windows worth compressing: git keeps the bytes as sent, so size is traded for time. */
export const STREAM_DEFLATE_LEVEL = 1;

/** Input is judged, and the parameters possibly switched, once per window of this many bytes. */
export const ADAPTIVE_WINDOW = 64 * 1024;
/** Most bytes handed to zlib in one write. */
const RUN = 1024 * 1024;
/** zlib's output buffer: each one filled is also a trip back from the thread pool, so it is large. */
const OUTPUT_CHUNK = 256 * 1024;

export type DeflateMode = 'store' | 'huffman' | 'fast';

const SETTINGS: Record<DeflateMode, { level: number; strategy: number }> = {
  store: { level: 0, strategy: constants.Z_DEFAULT_STRATEGY },
  huffman: { level: STREAM_DEFLATE_LEVEL, strategy: constants.Z_HUFFMAN_ONLY },
  fast: { level: STREAM_DEFLATE_LEVEL, strategy: constants.Z_DEFAULT_STRATEGY },
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
 * zlib-deflates a stream of bytes into exactly one zlib stream, choosing the parameters per window
 * (see chooseMode). A switch goes through zlib's deflateParams after a sync flush (Node's
 * `Deflate.params`), which ends the current block on a byte boundary: the result stays one stream
 * that inflates to the input. The deflating runs on libuv's thread pool, as any zlib stream's does.
 * An error from `chunks` ends the output with that same error.
 */
export async function* adaptiveDeflate(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let mode: DeflateMode = 'fast';
  const deflate = createDeflate({ ...SETTINGS[mode], chunkSize: OUTPUT_CHUNK });
  deflate.on('error', () => {}); // errors reach the reader through the iterator below
  let stopped = false;
  let switching: Promise<void> | undefined;
  const live = (): boolean => !stopped && !deflate.destroyed;

  const feed = async (): Promise<void> => {
    for await (const run of runs(chunks)) {
      // Waiting for 'drain' before the next write rather than after this one lets the stream work
      // while the next run is read and judged; 'drain' may have come and gone meanwhile.
      if (deflate.writableNeedDrain) await drainedOrClosed(deflate);
      if (!live()) return;
      if (run.mode !== mode) {
        mode = run.mode;
        const { level, strategy } = SETTINGS[mode];
        switching = new Promise((resolve) => deflate.params(level, strategy, resolve));
        await switching;
        switching = undefined;
        if (!live()) return;
      }
      deflate.write(run.bytes);
    }
    if (live()) deflate.end();
  };
  feed().catch((err: unknown) => deflate.destroy(err as Error));

  try {
    for await (const part of deflate.iterator({ destroyOnReturn: false })) yield part as Buffer;
  } finally {
    stopped = true;
    if (!deflate.destroyed) {
      // Node asserts (and the process dies) when a stream is destroyed while its params() flush is
      // pending, so that flush is let through first; resume() discards the output it waits to hand over.
      deflate.resume();
      await switching;
      deflate.destroy();
    }
  }
}

/**
 * Consecutive windows judged alike, joined into one write of up to RUN bytes: each write to a zlib
 * stream is a trip to the thread pool, which costs more than storing 64 KiB.
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

function drainedOrClosed(stream: Deflate): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
