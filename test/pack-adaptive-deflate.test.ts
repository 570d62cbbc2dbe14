// The adaptive deflate: whatever the bytes and however they are cut, the output is one zlib stream that
// inflates to exactly the input; incompressible stretches are stored, repetitive ones compressed; git
// accepts packs whose entries it wrote; and a reader that stops early or a source that fails ends it cleanly.
import t, { type Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants, deflateSync, inflateRawSync, inflateSync } from 'node:zlib';
import { ADAPTIVE_WINDOW, adaptiveDeflate, adler32, adler32Combine, chooseMode, splitSegment, storedBlocks } from '../src/pack/adaptive-deflate.js';
import { hashObject } from '../src/pack/oid.js';
import { writePack, type PackInput } from '../src/pack/pack-writer.js';
import { catFiles, chunked, collect, gitText, initRepo, seededRandom } from '../fixtures/pack-git.js';

const rand = seededRandom(7);

/** Bytes no compressor can shrink (seeded, so failures reproduce). */
function noise(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 256) | 0;
  return out;
}

/** JSON lines with varying values: compresses to about a fifth at level 1. */
function text(n: number): Buffer {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  const lines: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    const line = `${JSON.stringify({ id: i, name: `${words[(rand() * 8) | 0]}_${(rand() * 1e6) | 0}`, ok: rand() < 0.5 })}\n`;
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, n);
}

/** Blocks of `block` bytes taken in turn from noise and text. */
function mixed(n: number, block: number): Buffer {
  const parts: Buffer[] = [];
  for (let pos = 0, k = 0; pos < n; pos += block, k++) parts.push(k % 2 === 0 ? noise(Math.min(block, n - pos)) : text(Math.min(block, n - pos)));
  return Buffer.concat(parts);
}

/** base64 of noise: skewed bytes (6 bits each) that never repeat. */
function base64(n: number): Buffer {
  return Buffer.from(noise(n).toString('base64')).subarray(0, n);
}

async function deflated(data: Buffer, sizes: () => number = () => 65_536): Promise<Buffer> {
  return Buffer.concat(await collect(adaptiveDeflate(chunked(data, sizes))));
}

/** Inflates `z`, and checks it is one zlib stream that ends exactly at its last byte. */
function inflateWhole(t: Test, z: Buffer, label: string): Buffer {
  const { buffer, engine } = inflateSync(Buffer.concat([z, Buffer.from('trailing')]), { info: true }) as unknown as {
    buffer: Buffer;
    engine: { bytesWritten: number };
  };
  t.equal(engine.bytesWritten, z.length, `${label}: one zlib stream, ending at the last byte`);
  return buffer;
}

t.test('every input, cut every way, inflates back to itself', async (t) => {
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from([0x42])],
    ['noise', noise(700_000)],
    ['text', text(700_000)],
    ['mixed 512-byte blocks', mixed(700_000, 512)],
    ['mixed 100 KB blocks', mixed(1_300_000, 100_000)],
    ['base64', base64(300_000)],
    ['zeros', Buffer.alloc(300_000)],
    ['window plus one', noise(ADAPTIVE_WINDOW + 1)],
  ];
  const cuts: [string, () => number][] = [
    ['whole', () => Number.MAX_SAFE_INTEGER],
    ['64 KiB', () => 65_536],
    ['odd 7', () => 7],
    ['odd 65537', () => 65_537],
    ['random', () => 1 + Math.floor(rand() * 200_000)],
  ];
  for (const [label, data] of inputs) {
    for (const [cut, sizes] of cuts) {
      if (cut === 'odd 7' && data.length > 100_000) continue; // tiny chunks on the small inputs only
      const z = await deflated(data, sizes);
      t.ok(inflateWhole(t, z, `${label}, ${cut}`).equals(data), `${label}, ${cut}: inflates to the input`);
    }
  }
  const small = text(20_000);
  t.ok(inflateSync(await deflated(small, () => 1)).equals(small), 'one-byte chunks');
});

t.test('incompressible bytes are stored, repetitive ones compressed, a mix gets both', async (t) => {
  const n = 2 << 20;
  const random = await deflated(noise(n));
  t.ok(random.length >= n && random.length <= n + n / 1000 + 64, `noise stored: ${random.length} bytes for ${n}`);
  const prose = await deflated(text(n));
  t.ok(prose.length < n * 0.3, `text compressed: ${prose.length} bytes for ${n}`);
  const b64 = await deflated(base64(n));
  t.ok(b64.length < n * 0.78, `base64 Huffman-coded: ${b64.length} bytes for ${n}`);
  // Half noise, half text in 256 KiB blocks: the noise is stored, the text still compresses.
  const mix = await deflated(mixed(n, 256 * 1024));
  t.ok(mix.length < n * 0.5 + n * 0.15 + 1024, `mixed: ${mix.length} bytes for ${n}`);
  t.ok(mix.length > n * 0.5, 'the noise half cannot shrink');
});

t.test('chooseMode reads a window the way the sizes above show', async (t) => {
  t.equal(chooseMode(noise(ADAPTIVE_WINDOW)), 'store', 'noise');
  t.equal(chooseMode(text(ADAPTIVE_WINDOW)), 'fast', 'text');
  t.equal(chooseMode(mixed(ADAPTIVE_WINDOW, 512)), 'fast', 'text and noise in 512-byte blocks');
  t.equal(chooseMode(base64(ADAPTIVE_WINDOW)), 'huffman', 'base64');
  t.equal(chooseMode(Buffer.alloc(ADAPTIVE_WINDOW)), 'fast', 'zeros');
  const kilo = noise(1024);
  t.equal(chooseMode(Buffer.concat(Array.from({ length: 64 }, () => kilo))), 'fast', 'a repeated KiB of noise');
  t.equal(chooseMode(Buffer.alloc(0)), 'fast', 'empty');
  t.equal(chooseMode(noise(3000)), 'store', 'a short window is sampled whole');
  t.equal(chooseMode(noise(100)), 'fast', 'too short to judge: level 1 costs nothing there');
});

t.test('git index-pack --strict accepts a pack of adaptively deflated entries', async (t) => {
  const blobs = [
    noise(600_000),
    text(600_000),
    mixed(1_500_000, 200_000),
    mixed(300_000, 512),
    base64(200_000),
    Buffer.alloc(0),
    Buffer.from('x'),
  ];
  const sizes = () => 1 + Math.floor(rand() * 100_000);
  const inputs: PackInput[] = blobs.map((b) => ({ type: 'blob', size: b.length, data: chunked(b, sizes) }));
  const pack = Buffer.concat(await collect(writePack(inputs.length, inputs)));
  const bare = initRepo(t, { bare: true });
  t.match(gitText(bare, ['index-pack', '--strict', '--stdin'], pack), /^pack\t[0-9a-f]{40}$/, 'index-pack --strict accepted it');
  const oids = blobs.map((b) => hashObject('blob', b));
  const fromGit = catFiles(bare, oids);
  blobs.forEach((b, i) => t.ok(fromGit.get(oids[i]!)!.data.equals(b), `blob ${i} (${b.length} bytes) as git reads it`));
});

t.test('a source that trickles in (as a request body does) is deflated to its end', { timeout: 30_000 }, async (t) => {
  // The stream drains while the next bytes are awaited: a writer that then waits for 'drain' waits forever.
  const data = mixed(3_000_000, 400_000);
  const slow = async function* (): AsyncGenerator<Buffer> {
    for (let pos = 0; pos < data.length; pos += 100_000) {
      await sleep(2);
      yield data.subarray(pos, pos + 100_000);
    }
  };
  const z = Buffer.concat(await collect(adaptiveDeflate(slow())));
  t.ok(inflateWhole(t, z, 'trickled').equals(data), 'inflates to the input');
});

t.test('an error from the source ends the output with that error', async (t) => {
  const gone = new Error('client went away');
  const failing = async function* (): AsyncGenerator<Buffer> {
    yield noise(300_000);
    yield text(300_000);
    throw gone;
  };
  await t.rejects(collect(adaptiveDeflate(failing())), gone);
});

t.test('a reader that stops early, with segments still being deflated, ends the source', async (t) => {
  // Noise and text in turn: stored and deflated segments, several in flight when the reader stops; an
  // abandoned segment must neither surface as an unhandled rejection nor keep the source open.
  const blocks = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? noise(300_000) : text(300_000)));
  for (let k = 0; k < 10; k++) {
    let ended!: () => void;
    const sourceEnded = new Promise<void>((resolve) => (ended = resolve));
    const source = async function* (): AsyncGenerator<Buffer> {
      try {
        for (const b of blocks) for (let pos = 0; pos < b.length; pos += 50_000) yield b.subarray(pos, pos + 50_000);
      } finally {
        ended();
      }
    };
    let parts = 0;
    for await (const _ of adaptiveDeflate(source())) if (++parts > k) break;
    await sourceEnded;
    t.pass(`stopped after ${k + 1} parts: source ended`);
  }
});

t.test('segments deflated apart still compress as one stream does', async (t) => {
  // Each LZ segment gets the 32 KiB before it as its dictionary: without it, every cut would cost a
  // window's worth of matches. 16 KiB of noise repeated: every segment would start with 16 KiB of literals.
  const block = noise(16 * 1024);
  const data = Buffer.concat(Array.from({ length: 384 }, () => block));
  const whole = deflateSync(data, { level: 1 }).length;
  const ours = (await deflated(data)).length;
  t.ok(ours <= whole * 1.1, `${ours} bytes against ${whole} for one level-1 stream`);
  const prose = text(4 << 20);
  const proseOurs = (await deflated(prose)).length;
  const proseWhole = deflateSync(prose, { level: 1 }).length;
  t.ok(proseOurs <= proseWhole * 1.01, `text: ${proseOurs} bytes against ${proseWhole}`);
});

t.test('adler32Combine joins two checksums as zlib computes the whole', async (t) => {
  const adler = (data: Buffer): number => {
    const z = deflateSync(data, { level: 0 });
    return z.readUInt32BE(z.length - 4);
  };
  const cases = [Buffer.alloc(0), Buffer.from('a'), noise(5552), noise(65_521), noise(65_522), Buffer.alloc(200_000, 0xff), noise(300_000)];
  for (const data of cases) {
    for (const cut of [0, 1, Math.floor(data.length / 3), data.length]) {
      if (cut > data.length) continue;
      const [a, b] = [data.subarray(0, cut), data.subarray(cut)];
      t.equal(adler32Combine(adler(a), adler(b), b.length), adler(data), `${data.length} bytes cut at ${cut}`);
    }
  }
});

t.test('splitSegment takes a sync-flushed zlib stream apart, and refuses anything else', async (t) => {
  const data = text(100_000);
  const flushedThenFinished = (options: object): Buffer => {
    const body = deflateSync(data, { ...options, finishFlush: constants.Z_SYNC_FLUSH });
    // What Z_FINISH adds after a sync flush with no more input (an empty final block), then the checksum.
    const z = deflateSync(data, options);
    return Buffer.concat([body, Buffer.from([0x03, 0x00]), z.subarray(z.length - 4)]);
  };
  for (const [label, options] of [['level 1', { level: 1 }], ['Huffman only', { level: 1, strategy: constants.Z_HUFFMAN_ONLY }],
    ['with a dictionary', { level: 1, dictionary: data.subarray(0, 1000) }]] as const) {
    const z = flushedThenFinished(options);
    const seg = splitSegment(z, data.length);
    t.equal(seg.adler, z.readUInt32BE(z.length - 4), `${label}: the checksum`);
    const raw = Buffer.concat([Buffer.from([0x78, 0x01]), ...seg.parts, Buffer.from([0x03, 0x00]), z.subarray(z.length - 4)]);
    if (label !== 'with a dictionary') t.ok(inflateSync(raw).equals(data), `${label}: the body is the data's deflate blocks`);
  }
  t.throws(() => splitSegment(deflateSync(data, { level: 1 }), data.length), /sync flush/, 'a plainly finished stream');
  t.throws(() => splitSegment(Buffer.from([0x78, 0x01, 0x03, 0x00]), 0), /sync flush/, 'too short');
});

t.test('adler32 matches zlib, however the input is split', async (t) => {
  for (const data of [Buffer.alloc(0), Buffer.from('a'), noise(5551), noise(5552), noise(5553), Buffer.alloc(200_000, 0xff), noise(300_000)]) {
    const z = deflateSync(data, { level: 0 });
    const expected = z.readUInt32BE(z.length - 4);
    t.equal(adler32(1, data), expected, `${data.length} bytes whole`);
    const cut = Math.floor(data.length / 3);
    t.equal(adler32(adler32(1, data.subarray(0, cut)), data.subarray(cut)), expected, `${data.length} bytes in two`);
  }
});

t.test('stored blocks are what inflate reads back, 65535 bytes at most each', async (t) => {
  for (const n of [0, 1, 65_535, 65_536, 200_000]) {
    const data = noise(n);
    const blocks = storedBlocks(data);
    t.equal(blocks.length, 2 * Math.ceil(n / 65_535), `${n} bytes: ${blocks.length / 2} blocks`);
    const raw = Buffer.concat([...blocks, Buffer.from([0x03, 0x00])]);
    t.ok(inflateRawSync(raw).equals(data), `${n} bytes inflate back`);
  }
  const view = noise(70_000);
  t.equal(storedBlocks(view)[1]!.buffer, view.buffer, 'the bytes are views of the input, not copies');
});

t.test('many streams at once share the deflate slots and each still comes out whole', async (t) => {
  // More streams than the process-wide slots: most segments wait for a turn, handed over as others finish.
  const inputs = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? text(1_500_000) : mixed(1_500_000, 512)));
  const outputs = await Promise.all(inputs.map((data) => deflated(data, () => 1 + Math.floor(rand() * 300_000))));
  outputs.forEach((z, i) => t.ok(inflateWhole(t, z, `stream ${i}`).equals(inputs[i]!), `stream ${i} inflates to its input`));
});
