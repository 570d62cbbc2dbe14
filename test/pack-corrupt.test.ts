import t, { type Test } from 'tap';
import { deflateSync } from 'node:zlib';
import { hashObject } from '../src/pack/oid.js';
import { OBJ_BLOB, OBJ_OFS_DELTA, OBJ_REF_DELTA } from '../src/pack/pack-format.js';
import { readPack, type PackReaderOptions } from '../src/pack/pack-reader.js';
import type { PackErrorCode } from '../src/pack/errors.js';
import { buildPack, encodeDelta, encodeEntry, resealPack } from '../fixtures/pack-build.js';
import { chunked, collect, makeHistoryRepo, packAll, packError } from '../fixtures/pack-git.js';

/** Every malformed input must reject with the right PackError, whether it arrives whole or in 3-byte chunks. */
async function rejects(t: Test, pack: Buffer, code: PackErrorCode, label: string, opts?: PackReaderOptions) {
  await t.rejects(collect(readPack(chunked(pack, () => pack.length), opts)), packError(code), `${label} (whole)`);
  await t.rejects(collect(readPack(chunked(pack, () => 3), opts)), packError(code), `${label} (3-byte chunks)`);
}

const base = Buffer.from('the base blob: 0123456789abcdefghijklmnopqrstuvwxyz\n');
const baseOid = hashObject('blob', base);
const baseEntry = encodeEntry({ code: OBJ_BLOB, payload: base });
const blobEntry = (data: Buffer, extra: { size?: number; zlib?: Buffer } = {}) => encodeEntry({ code: OBJ_BLOB, payload: data, ...extra });
const ofsDelta = (delta: Buffer, distance: number) => encodeEntry({ code: OBJ_OFS_DELTA, payload: delta, baseDistance: distance });
const refDelta = (delta: Buffer, oid: string) => encodeEntry({ code: OBJ_REF_DELTA, payload: delta, baseOid: oid });
// A delta turning `base` into "the base blob!" + a copy of its last 10 bytes.
const goodDelta = encodeDelta(base.length, 24, [{ copy: [0, 13] }, { insert: Buffer.from('!') }, { copy: [base.length - 10, 10] }]);

t.test('sanity: the hand-built packs used below are valid', async (t) => {
  const objects = await collect(readPack(chunked(buildPack([baseEntry, ofsDelta(goodDelta, baseEntry.length)]), () => 5)));
  const patched = 'the base blob!' + base.subarray(base.length - 10).toString();
  t.same(objects.map((o) => o.data.toString()), [base.toString(), patched]);
  t.equal(objects[1]!.depth, 1);
  // A REF_DELTA before its base and an OFS_DELTA on that delta: both wait, then resolve.
  const ref = refDelta(goodDelta, baseOid);
  const onRef = encodeDelta(24, 5, [{ copy: [0, 3] }, { insert: Buffer.from('!!') }]);
  const waiting = await collect(readPack(chunked(buildPack([ref, ofsDelta(onRef, ref.length), baseEntry]), () => 2)));
  t.same(waiting.map((o) => o.data.toString()), [base.toString(), patched, 'the!!']);
  t.same(waiting.map((o) => o.depth), [0, 1, 2]);
});

t.test('truncated packs', async (t) => {
  const repo = makeHistoryRepo(t, 5);
  const pack = packAll(repo);
  for (const cut of [0, 5, 12, 13, 100, Math.floor(pack.length / 2), pack.length - 20, pack.length - 1]) {
    await rejects(t, pack.subarray(0, cut), 'truncated', `cut at ${cut} of ${pack.length}`);
  }
});

t.test('bad header', async (t) => {
  const pack = buildPack([baseEntry]);
  const badSig = Buffer.from(pack);
  badSig.write('PACX', 0, 'latin1');
  await rejects(t, badSig, 'bad-header', 'signature');
  for (const version of [0, 1, 4]) {
    const v = Buffer.from(pack);
    v.writeUInt32BE(version, 4);
    await rejects(t, resealPack(v), 'bad-header', `version ${version}`);
  }
  await rejects(t, buildPack([baseEntry]), 'too-large', 'more objects than maxObjects', { maxObjects: 0 });
  const badType = Buffer.from(baseEntry);
  badType[0] = (badType[0]! & 0x8f) | (5 << 4);
  await rejects(t, buildPack([badType]), 'bad-object', 'reserved type 5');
  badType[0] = badType[0]! & 0x8f;
  await rejects(t, buildPack([badType]), 'bad-object', 'type 0');
});

t.test('bad zlib data', async (t) => {
  const garbage = Buffer.from([0x78, 0x9c, 0xff, 0xfe, 0xfd, 0xfc, 0x00, 0x01, 0x02, 0x03]);
  await rejects(t, buildPack([blobEntry(base, { zlib: garbage })]), 'bad-zlib', 'garbage');
  const badCheck = deflateSync(base);
  badCheck[badCheck.length - 1]! ^= 0xff;
  await rejects(t, buildPack([blobEntry(base, { zlib: badCheck })]), 'bad-zlib', 'adler32 mismatch');
  await rejects(t, buildPack([blobEntry(base, { zlib: Buffer.from('not zlib at all') })]), 'bad-zlib', 'no zlib header');
});

t.test('bad trailer', async (t) => {
  const pack = buildPack([baseEntry, ofsDelta(goodDelta, baseEntry.length)]);
  for (const at of [pack.length - 20, pack.length - 1]) {
    const flipped = Buffer.from(pack);
    flipped[at]! ^= 0x01;
    await rejects(t, flipped, 'bad-trailer', `flipped trailer byte ${at}`);
  }
  await rejects(t, Buffer.concat([pack, Buffer.from('junk')]), 'bad-trailer', 'junk after the trailer');
});

t.test('declared size differs from inflated size', async (t) => {
  await rejects(t, buildPack([blobEntry(base, { size: base.length + 1 })]), 'bad-size', 'declared too large');
  await rejects(t, buildPack([blobEntry(base, { size: base.length - 1 })]), 'bad-size', 'declared too small');
  await rejects(t, buildPack([blobEntry(base, { size: 0 })]), 'bad-size', 'declared empty');
});

t.test('bad deltas', async (t) => {
  const outOfRange = encodeDelta(base.length, 10, [{ copy: [base.length - 5, 10] }]);
  await rejects(t, buildPack([baseEntry, ofsDelta(outOfRange, baseEntry.length)]), 'bad-delta', 'copy past the base');
  const wrongBaseSize = encodeDelta(base.length + 1, 1, [{ insert: Buffer.from('x') }]);
  await rejects(t, buildPack([baseEntry, ofsDelta(wrongBaseSize, baseEntry.length)]), 'bad-delta', 'base size mismatch');
  const short = encodeDelta(base.length, 5, [{ insert: Buffer.from('abc') }]);
  await rejects(t, buildPack([baseEntry, ofsDelta(short, baseEntry.length)]), 'bad-delta', 'result shorter than declared');
  const mid = ofsDelta(goodDelta, baseEntry.length - 3);
  await rejects(t, buildPack([baseEntry, mid]), 'bad-delta', 'OFS_DELTA into the middle of an entry');
  await rejects(t, buildPack([baseEntry, ofsDelta(goodDelta, baseEntry.length + 20)]), 'bad-delta', 'OFS_DELTA before the pack');
});

t.test('REF_DELTA whose base never comes', async (t) => {
  await rejects(t, buildPack([baseEntry, refDelta(goodDelta, 'f'.repeat(40))]), 'missing-base', 'unknown base');
  const cycle = refDelta(goodDelta, hashObject('blob', Buffer.from('never')));
  await rejects(t, buildPack([cycle, ofsDelta(goodDelta, cycle.length)]), 'missing-base', 'chain on a missing base');

  // Drop one whole object from a real REF_DELTA pack: every delta built on it is now orphaned.
  const repo = makeHistoryRepo(t, 5);
  const pack = packAll(repo, { ofs: false });
  const objects = await collect(readPack(chunked(pack, () => pack.length)));
  const sorted = [...objects].sort((a, b) => a.offset - b.offset);
  t.ok(objects.some((o) => o.delta === 'ref'), 'the pack has REF_DELTAs');
  const entries = sorted.map((o, i) => pack.subarray(o.offset, sorted[i + 1]?.offset ?? pack.length - 20));
  // Delta chains of blobs start at a whole blob; remove every whole blob.
  const kept = entries.filter((_, i) => !(sorted[i]!.depth === 0 && sorted[i]!.type === 'blob'));
  await rejects(t, buildPack(kept), 'missing-base', 'git pack without its base blobs');
});

t.test('zip bombs and size limits', async (t) => {
  const eightMiB = 8 * 1024 * 1024;
  const zeros = deflateSync(Buffer.alloc(eightMiB));
  t.ok(zeros.length < 20000, 'tiny when compressed');
  const limit = { maxObjectSize: 1024 * 1024 };
  await rejects(t, buildPack([blobEntry(Buffer.alloc(0), { size: eightMiB, zlib: zeros })]), 'too-large', 'declared beyond maxObjectSize', limit);
  await rejects(t, buildPack([blobEntry(Buffer.alloc(0), { size: 100, zlib: zeros })]), 'bad-size', 'inflates far beyond its declared size', limit);
  const huge = encodeDelta(base.length, eightMiB, [{ copy: [0, 10] }]);
  await rejects(t, buildPack([baseEntry, ofsDelta(huge, baseEntry.length)]), 'too-large', 'delta result beyond maxObjectSize', limit);
});

t.test('delta chains deeper than maxDeltaDepth', async (t) => {
  // base <- d1 <- d2 <- ... <- d6, each appending one byte to the previous version.
  const entries = [baseEntry];
  let size = base.length;
  for (let i = 0; i < 6; i++) {
    const delta = encodeDelta(size, size + 1, [{ copy: [0, size] }, { insert: Buffer.from([0x61 + i]) }]);
    entries.push(ofsDelta(delta, entries[entries.length - 1]!.length));
    size++;
  }
  const pack = buildPack(entries);
  const objects = await collect(readPack(chunked(pack, () => 64), { maxDeltaDepth: 6 }));
  t.equal(objects[6]!.data.toString(), base.toString() + 'abcdef', 'depth 6 resolves with maxDeltaDepth 6');
  await rejects(t, pack, 'bad-delta', 'depth 6 with maxDeltaDepth 5', { maxDeltaDepth: 5 });
  await rejects(t, pack, 'bad-delta', 'any delta with maxDeltaDepth 0', { maxDeltaDepth: 0 });
});

t.test('deferred deltas beyond maxRetainedBytes', async (t) => {
  const waiting = Array.from({ length: 10 }, () => refDelta(goodDelta, baseOid));
  const pack = buildPack([...waiting, baseEntry]);
  t.equal((await collect(readPack(chunked(pack, () => 100)))).length, 11);
  await rejects(t, pack, 'too-large', 'ten deltas waiting', { maxRetainedBytes: goodDelta.length * 5 });
});

t.test('an endless stream of garbage ends in an error, not a hang', async (t) => {
  async function* endless(prefix: Buffer, filler: number): AsyncGenerator<Uint8Array> {
    yield prefix;
    for (let i = 0; i < 1_000_000; i++) yield Buffer.alloc(16, filler);
  }
  const header = buildPack([]).subarray(0, 12);
  header.writeUInt32BE(1, 8);
  await t.rejects(collect(readPack(endless(header, 0xff))), packError('bad-header'), 'endless size varint');
  const stored = Buffer.concat([header, Buffer.from([0x3a, 0x78, 0x01, 0x00, 0xff, 0x7f, 0x00, 0x80])]);
  await t.rejects(collect(readPack(endless(stored, 0x41))), packError('bad-size'), 'endless stored block');
});
