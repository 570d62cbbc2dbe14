// Memory bounds of the pack reader against hostile packs: per-object bookkeeping counts against
// maxRetainedBytes, deltas on one base are built one at a time, and trees are capped by entry count.
import t from 'tap';
import { createHash } from 'node:crypto';
import { BaseStore, ENTRY_OVERHEAD } from '../src/pack/base-store.js';
import { hashObject } from '../src/pack/oid.js';
import { OBJ_BLOB, OBJ_OFS_DELTA, OBJ_REF_DELTA, encodePackHeader } from '../src/pack/pack-format.js';
import { readPack } from '../src/pack/pack-reader.js';
import { decodeTree } from '../src/pack/tree.js';
import { buildPack, encodeDelta, encodeEntry } from '../fixtures/pack-build.js';
import { chunked, collect, packError } from '../fixtures/pack-git.js';

const KiB = 1024;

t.test('BaseStore: millions of tiny objects cannot outgrow the budget', async (t) => {
  const budget = 256 * KiB;
  const store = new BaseStore(budget);
  for (let i = 0; i < 100_000; i++) {
    const data = Buffer.from(String(i));
    store.add({ type: 'blob', oid: hashObject('blob', data), data, offset: 12 + i * 8, depth: 0 });
  }
  t.ok(store.retainedBytes <= budget, `${store.retainedBytes} bytes retained`);
  t.ok(store.size <= budget / ENTRY_OVERHEAD, `${store.size} objects kept`);
  t.ok(store.trackedEvictions <= budget / 100, `${store.trackedEvictions} evictions remembered`);
  t.ok(store.lostTrack, 'the rest is only known to be gone');
});

/** `n` tiny distinct blobs. */
function tinyBlobs(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => encodeEntry({ code: OBJ_BLOB, payload: Buffer.from(`blob ${i}`) }));
}

t.test('a delta on a base dropped beyond the remembered evictions fails with too-large', async (t) => {
  // With 8 KiB, ~15 blobs are kept and the first 64 evictions remembered: blob 300 is forgotten untracked.
  const blobs = tinyBlobs(400);
  const gone = Buffer.from('blob 300');
  const delta = encodeDelta(gone.length, 3, [{ copy: [0, 3] }]);
  const opts = { maxRetainedBytes: 8 * KiB };
  const ref = buildPack([...blobs, encodeEntry({ code: OBJ_REF_DELTA, payload: delta, baseOid: hashObject('blob', gone) })]);
  await t.rejects(collect(readPack(chunked(ref, () => 4096), opts)), packError('too-large'), 'REF_DELTA');
  const behind = blobs.slice(300).reduce((n, b) => n + b.length, 0);
  const ofs = buildPack([...blobs, encodeEntry({ code: OBJ_OFS_DELTA, payload: delta, baseDistance: behind })]);
  await t.rejects(collect(readPack(chunked(ofs, () => 4096), opts)), packError('too-large'), 'OFS_DELTA');
  // The same packs with room for every base resolve.
  t.equal((await collect(readPack(chunked(ref, () => 4096)))).at(-1)?.data.toString(), 'blo');
  t.equal((await collect(readPack(chunked(ofs, () => 4096)))).at(-1)?.data.toString(), 'blo');
});

t.test('tiny deltas waiting for a missing base count their bookkeeping', async (t) => {
  // 1000 deltas of a few bytes: their content is ~10 KiB, their bookkeeping far more.
  const delta = encodeDelta(10, 10, [{ copy: [0, 10] }]);
  const waiting = encodeEntry({ code: OBJ_REF_DELTA, payload: delta, baseOid: 'b'.repeat(40) });
  const pack = buildPack(Array.from({ length: 1000 }, () => waiting));
  await t.rejects(collect(readPack(chunked(pack, () => 4096), { maxRetainedBytes: 100 * KiB })), packError('too-large'));
  await t.rejects(collect(readPack(chunked(pack, () => 4096))), packError('missing-base'), 'with the default budget');
});

t.test('many deltas on one base are built one at a time', async (t) => {
  // 200 REF_DELTAs wait for a 64 KiB base; each copies it 16 times, 1 MiB. Built all at once before the
  // first is handed over they would take 200 MiB.
  const base = Buffer.alloc(64 * KiB, 0x61);
  const delta = encodeDelta(base.length, 16 * base.length, Array.from({ length: 16 }, () => ({ copy: [0, base.length] as [number, number] })));
  const waiting = encodeEntry({ code: OBJ_REF_DELTA, payload: delta, baseOid: hashObject('blob', base) });
  const pack = buildPack([...Array.from({ length: 200 }, () => waiting), encodeEntry({ code: OBJ_BLOB, payload: base })]);
  const before = process.memoryUsage().arrayBuffers;
  let grown = 0;
  let count = 0;
  for await (const obj of readPack(chunked(pack, () => 64 * KiB), { maxRetainedBytes: 4 * 1024 * KiB })) {
    if (obj.depth === 1 && count++ === 1) {
      // External memory only grows without a GC: this bounds what was allocated so far.
      grown = process.memoryUsage().arrayBuffers - before;
      break;
    }
  }
  t.ok(grown < 48 * 1024 * KiB, `${Math.round(grown / KiB)} KiB allocated when the second delta arrived`);
});

t.test('maxObjects stops a pack at its header', async (t) => {
  const header = encodePackHeader(0xffffffff);
  let read = 0;
  async function* endless(): AsyncGenerator<Buffer> {
    yield header;
    for (let i = 0; i < 1_000_000; i++) {
      const e = encodeEntry({ code: OBJ_BLOB, payload: Buffer.from('x') });
      read += e.length;
      yield e;
    }
  }
  await t.rejects(collect(readPack(endless())), packError('too-large'), 'more than the default 10 million');
  t.equal(read, 0, 'no entry was read');
});

t.test('decodeTree maxEntries stops a huge tree', async (t) => {
  const entries: Buffer[] = [];
  for (let i = 0; i < 100_000; i++) {
    entries.push(Buffer.from(`100644 f${String(i).padStart(6, '0')}\0`), createHash('sha1').update(String(i)).digest());
  }
  const tree = Buffer.concat(entries);
  t.throws(() => decodeTree(tree, { maxEntries: 1000 }), packError('too-large'));
  t.equal(decodeTree(tree).length, 100_000, 'without a limit it decodes');
});
