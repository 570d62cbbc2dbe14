// readSingleObjectPack: one whole object streamed through node:zlib with the pack checksum held back.
// Whatever goes wrong, the consumer must never receive the complete content of an unverified object.
import t, { type Test } from 'tap';
import { constants, createInflate, deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import { readSingleObjectPack, type StreamedObject } from '../src/pack/pack-reader.js';
import { PackError, type PackErrorCode } from '../src/pack/errors.js';
import { hashObject } from '../src/pack/oid.js';
import { ByteCursor } from '../src/pack/byte-cursor.js';
import { inflateToEnd } from '../src/pack/inflate-to-end.js';
import { OBJ_BLOB } from '../src/pack/pack-format.js';
import { buildPack, encodeEntry, resealPack } from '../fixtures/pack-build.js';
import { chunked, git, gitText, initRepo, seededRandom } from '../fixtures/pack-git.js';

const repo = initRepo(t);

/** A pack of exactly one blob, made by `git pack-objects`, and git's own copy of the blob. */
function gitBlobPack(content: Buffer): { pack: Buffer; oid: string; blob: Buffer } {
  const oid = gitText(repo, ['hash-object', '-w', '--stdin'], content);
  const pack = git(repo, ['pack-objects', '--stdout', '-q'], `${oid}\n`);
  return { pack, oid, blob: git(repo, ['cat-file', 'blob', oid]) };
}

/** Deterministic content: lines of words (deflates well) with runs of noise (stored as is). */
function mixedContent(size: number, seed: number): Buffer {
  const rand = seededRandom(seed);
  const words = ['tree', 'blob', 'commit', 'pack', 'delta', 'zlib', 'stream', 'branch', 'merge', 'index'];
  const out = Buffer.alloc(size);
  let pos = 0;
  while (pos < size) {
    if (rand() < 0.00005) {
      const n = Math.min(size - pos, 1 + Math.floor(rand() * 200_000));
      for (let i = 0; i < n; i++) out[pos + i] = Math.floor(rand() * 256);
      pos += n;
    } else {
      pos += out.write(`${words[Math.floor(rand() * words.length)]} ${Math.floor(rand() * 1000)}\n`, pos, 'latin1');
    }
  }
  return out;
}

const small = gitBlobPack(Buffer.from('hello, single object pack\n'.repeat(40)));
const empty = gitBlobPack(Buffer.alloc(0));
const large = gitBlobPack(mixedContent(5 * 1024 * 1024 + 13, 1));

/** Feeds `data` in chunks of the given sizes, cycling; records how far it was read and whether it was closed. */
function source(data: Buffer, sizes: number[] | (() => number)) {
  const state = { pulled: 0, closed: false };
  let i = 0;
  const next = typeof sizes === 'function' ? sizes : () => sizes[i++ % sizes.length]!;
  const chunks = chunked(data, next);
  const iterable = (async function* () {
    try {
      for await (const chunk of chunks) {
        state.pulled += chunk.length;
        yield chunk;
      }
    } finally {
      state.closed = true;
    }
  })();
  return { iterable, state };
}

/** Reads the stream to its end or first error, keeping what the consumer would have received. */
async function drain(obj: StreamedObject): Promise<{ data: Buffer; chunks: number[]; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const chunk of obj.stream) parts.push(Buffer.from(chunk));
    return { data: Buffer.concat(parts), chunks: parts.map((p) => p.length), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(parts), chunks: parts.map((p) => p.length), error };
  }
}

function assertPackError(t: Test, error: unknown, code: PackErrorCode | PackErrorCode[]): void {
  const codes = Array.isArray(code) ? code : [code];
  t.ok(error instanceof PackError && codes.includes(error.code), `fails with PackError ${codes.join(' or ')}: ${String(error)}`);
}

/**
 * Reads `pack` expecting a PackError (from the call or from the stream) and checks the consumer never got
 * `content` whole (it received fewer bytes) and the source was released.
 */
async function expectFailure(
  t: Test,
  pack: Buffer,
  oid: string,
  content: Buffer,
  code: PackErrorCode | PackErrorCode[],
  sizes: number[] = [4096],
): Promise<void> {
  const src = source(pack, sizes);
  let error: unknown;
  let received: Buffer = Buffer.alloc(0);
  try {
    const obj = await readSingleObjectPack(src.iterable, oid);
    const r = await drain(obj);
    error = r.error;
    received = r.data;
  } catch (err) {
    error = err;
  }
  assertPackError(t, error, code);
  t.ok(received.length < content.length, `received ${received.length} of ${content.length} bytes`);
  t.ok(src.state.closed, 'the source is closed');
}

t.test('git packs of one blob, in odd chunk sizes, give the exact bytes', async (t) => {
  const cases: Array<[string, typeof small, Array<number[] | (() => number)>]> = [
    ['small', small, [[1], [3, 19, 20, 21], [7], [1 << 20]]],
    ['empty', empty, [[1], [5], [19, 20, 21], [1 << 20]]],
    ['5 MiB', large, [[7919], [65537], [1, 19, 20, 21, 40_000], seededRandom(7) as () => number]],
  ];
  for (const [label, { pack, oid, blob }, sizeLists] of cases) {
    for (const sizes of sizeLists) {
      const feed = typeof sizes === 'function' ? () => 1 + Math.floor(sizes() * 100_000) : sizes;
      for (const chunkSize of [undefined, 1000, 64 * 1024 + 3]) {
        const src = source(pack, feed);
        const obj = await readSingleObjectPack(src.iterable, oid, chunkSize === undefined ? {} : { chunkSize });
        t.equal(obj.type, 'blob');
        t.equal(obj.size, blob.length);
        const { data, chunks, error } = await drain(obj);
        t.equal(error, undefined, `${label}: no error`);
        t.ok(data.equals(blob), `${label} (chunks ${typeof sizes === 'function' ? 'random' : sizes.join('/')}, chunkSize ${chunkSize}): equals git cat-file`);
        const limit = chunkSize ?? 256 * 1024;
        t.ok(chunks.every((n) => n > 0 && n <= limit), `${label}: every chunk has 1..${limit} bytes`);
        t.ok(src.state.closed, `${label}: source closed`);
      }
    }
  }
  t.ok(large.pack.length < large.blob.length, 'the large pack has compressed parts');
});

t.test('a tiny chunkSize still yields bounded, exact chunks', async (t) => {
  const obj = await readSingleObjectPack(source(small.pack, [5]).iterable, small.oid, { chunkSize: 1 });
  const { data, chunks } = await drain(obj);
  t.ok(data.equals(small.blob));
  t.ok(chunks.every((n) => n === 1));
});

t.test('an invalid chunkSize is refused and the source released', async (t) => {
  const src = source(small.pack, [100]);
  const obj = await readSingleObjectPack(src.iterable, small.oid, { chunkSize: 0 });
  await t.rejects(obj.stream.next(), RangeError);
  t.ok(src.state.closed);
});

t.test('a source that reuses its buffer is safe', async (t) => {
  // ByteCursor allows a producer to overwrite a chunk once the next one is asked for.
  const { pack, oid, blob } = large;
  const reuse = async function* (): AsyncGenerator<Uint8Array> {
    const buf = Buffer.alloc(30_011);
    for (let pos = 0; pos < pack.length; pos += buf.length) {
      const n = pack.copy(buf, 0, pos, pos + buf.length);
      yield buf.subarray(0, n);
      buf.fill(0xa5);
    }
  };
  const { data, error } = await drain(await readSingleObjectPack(reuse(), oid));
  t.equal(error, undefined);
  t.ok(data.equals(blob));
});

t.test('wrong expected id', async (t) => {
  const other = hashObject('blob', Buffer.from('something else'));
  await expectFailure(t, small.pack, other, small.blob, 'bad-object');
  await expectFailure(t, large.pack, other, large.blob, 'bad-object', [65536]);
  await expectFailure(t, empty.pack, other, Buffer.alloc(1), 'bad-object');
});

t.test('a flipped byte inside the zlib data', async (t) => {
  const start = 12 + 4; // past the pack header and the entry header of a 5 MiB object
  for (const at of [start + 2, Math.floor(large.pack.length / 3), Math.floor(large.pack.length / 2), large.pack.length - 21]) {
    const bad = Buffer.from(large.pack);
    bad[at]! ^= 0x10;
    // Resealed so only zlib (or the object id) can catch it; and as is, where the checksum also fails.
    await expectFailure(t, resealPack(bad), large.oid, large.blob, ['bad-zlib', 'bad-object', 'bad-size', 'truncated', 'bad-trailer'], [65536]);
    await expectFailure(t, bad, large.oid, large.blob, ['bad-zlib', 'bad-object', 'bad-size', 'truncated', 'bad-trailer'], [8191]);
  }
  // The adler32 at the end of the zlib stream.
  const bad = Buffer.from(large.pack);
  bad[large.pack.length - 21]! ^= 1;
  await expectFailure(t, resealPack(bad), large.oid, large.blob, 'bad-zlib', [65536]);
});

t.test('a flipped trailer byte', async (t) => {
  const cases: Array<[typeof small, number[][]]> = [
    [small, [[1 << 20], [1], [7, 19, 20, 21]]],
    [large, [[1 << 20], [8191], [65536]]],
  ];
  for (const [{ pack, oid, blob }, sizeLists] of cases) {
    for (const at of [pack.length - 20, pack.length - 1]) {
      const bad = Buffer.from(pack);
      bad[at]! ^= 0x80;
      for (const sizes of sizeLists) await expectFailure(t, bad, oid, blob, 'bad-trailer', sizes);
    }
  }
  // An empty blob has no content to hold back, but the stream still fails.
  const bad = Buffer.from(empty.pack);
  bad[bad.length - 1]! ^= 1;
  const { error } = await drain(await readSingleObjectPack(source(bad, [3]).iterable, empty.oid));
  assertPackError(t, error, 'bad-trailer');
});

t.test('a truncated pack', async (t) => {
  const { pack, oid, blob } = large;
  for (const len of [0, 5, 12, 14, 1000, pack.length >> 1, pack.length - 40, pack.length - 21, pack.length - 20, pack.length - 19, pack.length - 1]) {
    await expectFailure(t, pack.subarray(0, len), oid, blob, 'truncated', [65536]);
  }
  for (const len of [small.pack.length - 20, small.pack.length - 3]) {
    await expectFailure(t, small.pack.subarray(0, len), small.oid, small.blob, 'truncated', [1]);
  }
});

t.test('bytes between the zlib stream and the checksum, or after the checksum', async (t) => {
  const body = small.pack.subarray(0, small.pack.length - 20);
  await expectFailure(t, resealPack(Buffer.concat([body, Buffer.from('junk'), small.pack.subarray(-20)])), small.oid, small.blob, 'bad-trailer');
  for (const junk of ['x', 'junk after the checksum: more than twenty bytes']) {
    await expectFailure(t, Buffer.concat([small.pack, Buffer.from(junk)]), small.oid, small.blob, 'bad-trailer', [1, 64]);
  }
});

t.test("node's inflate ignores bytes after the end of a stream: only bytesWritten tells", async (t) => {
  // Why inflateToEnd checks the consumed count: without it, junk before the checksum would pass.
  const zlib = createInflate();
  const out: Buffer[] = [];
  const deflated = deflateSync(Buffer.from('content'));
  let failed: unknown;
  zlib.on('error', (err) => (failed = err));
  zlib.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((resolve) => zlib.on('end', resolve));
  zlib.end(Buffer.concat([deflated, Buffer.from('trailing junk')]));
  await ended;
  t.equal(failed, undefined, 'no error');
  t.equal(Buffer.concat(out).toString(), 'content');
  t.equal(zlib.bytesWritten, deflated.length, 'bytesWritten stops at the end of the stream');
});

/** A one-blob pack whose entry declares `declared` bytes but holds the zlib stream of `content`. */
function lyingPack(content: Buffer, declared: number, zlib?: Buffer): Buffer {
  return buildPack([encodeEntry({ code: OBJ_BLOB, size: declared, payload: content, ...(zlib ? { zlib } : {}) })]);
}

t.test('declared size smaller or larger than the stream', async (t) => {
  const content = mixedContent(300_000, 2);
  const oid = hashObject('blob', content);
  for (const declared of [0, 1, 1000, content.length - 1]) {
    const src = source(lyingPack(content, declared), [4096]);
    const { data, error } = await drain(await readSingleObjectPack(src.iterable, oid));
    assertPackError(t, error, 'bad-size');
    t.ok(data.length <= declared, `never more than the declared ${declared} bytes (got ${data.length})`);
    t.ok(src.state.closed);
  }
  for (const declared of [content.length + 1, content.length + 1_000_000]) {
    await expectFailure(t, lyingPack(content, declared), oid, content, 'bad-size');
  }
});

/**
 * A zlib stream of `mib` MiB of zeros built from copies of one deflated MiB: each copy ends on a byte
 * boundary (full flush) without being final, so copies chain; then a final empty block and the adler32.
 */
function zeroBomb(mib: number): Buffer {
  const segment = deflateRawSync(Buffer.alloc(1 << 20), { finishFlush: constants.Z_FULL_FLUSH });
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((mib * 2 ** 20) % 65521) * 65536 + 1) >>> 0); // a stays 1, b adds 1 per zero byte
  return Buffer.concat([Buffer.from([0x78, 0x9c]), ...Array<Buffer>(mib).fill(segment), Buffer.from([0x03, 0x00]), adler]);
}

t.test('zip bombs', async (t) => {
  // Tiny stream, huge declared size: fails once the stream ends short.
  const tiny = Buffer.from('tiny');
  await expectFailure(t, lyingPack(tiny, 1 << 30), hashObject('blob', tiny), tiny, 'bad-size');
  t.ok(inflateSync(zeroBomb(3)).equals(Buffer.alloc(3 << 20)), 'the bomb construction is a valid zlib stream');
  // Tiny declared size, huge stream (4 GiB of zeros in about 4 MiB): inflating stops just past the declared size.
  const bomb = zeroBomb(4096);
  const declared = 1024 * 1024;
  const pack = lyingPack(Buffer.alloc(0), declared, bomb);
  const src = source(pack, [65536]);
  const { data, error } = await drain(await readSingleObjectPack(src.iterable, hashObject('blob', Buffer.alloc(0))));
  assertPackError(t, error, 'bad-size');
  t.ok(data.length <= declared, `at most the declared size was delivered (${data.length})`);
  t.ok(src.state.pulled <= 1024 * 1024, `only ${src.state.pulled} of ${pack.length} bytes were read`);
  t.ok(src.state.closed);
});

t.test('inflateToEnd on its own stops a zip bomb at the declared size', async (t) => {
  const src = source(zeroBomb(4096), [65536]);
  const input = new ByteCursor(src.iterable);
  let got = 0;
  let error: unknown;
  try {
    for await (const chunk of inflateToEnd(input, 1 << 20)) got += chunk.length;
  } catch (err) {
    error = err;
  }
  await input.close();
  assertPackError(t, error, 'bad-size');
  t.ok(got <= 1 << 20, `yielded ${got} bytes`);
  t.ok(src.state.pulled <= 1024 * 1024, `read ${src.state.pulled} bytes`);
});

t.test('stopping early releases the source', async (t) => {
  const src = source(large.pack, [65536]);
  const obj = await readSingleObjectPack(src.iterable, large.oid, { chunkSize: 4096 });
  let got = 0;
  for await (const chunk of obj.stream) {
    got += chunk.length;
    if (got >= 100_000) break;
  }
  t.ok(src.state.closed, 'closed after break');
  t.ok(src.state.pulled < large.pack.length / 2, `read ${src.state.pulled} of ${large.pack.length} bytes`);
  // Dropping the stream before reading any of it.
  const src2 = source(large.pack, [65536]);
  const obj2 = await readSingleObjectPack(src2.iterable, large.oid);
  await obj2.stream.return(undefined);
  t.ok(src2.state.closed, 'closed by return() before the first chunk');
  // A consumer that stops reading leaves zlib paused: little more than what it took is read.
  const src3 = source(large.pack, [1024]);
  const obj3 = await readSingleObjectPack(src3.iterable, large.oid, { chunkSize: 1024 });
  await obj3.stream.next();
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.ok(src3.state.pulled < 1024 * 1024, `a paused consumer lets only ${src3.state.pulled} bytes be read`);
  await obj3.stream.return(undefined);
  t.ok(src3.state.closed);
});
