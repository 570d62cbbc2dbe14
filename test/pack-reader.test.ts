import t, { type Test } from 'tap';
import { readPack, type PackObject } from '../src/pack/pack-reader.js';
import { buildPack } from '../fixtures/pack-build.js';
import {
  allObjectIds,
  catFiles,
  chunked,
  collect,
  gitPackDepths,
  makeHistoryRepo,
  packAll,
  packError,
  seededRandom,
} from '../fixtures/pack-git.js';

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

const repo = makeHistoryRepo(t);
const oids = allObjectIds(repo);
const expected = catFiles(repo, oids);

/** Asserts the parsed objects are exactly the repository's objects, byte for byte. */
function assertAllObjects(t: Test, objects: PackObject[], label: string): void {
  t.equal(objects.length, oids.length, `${label}: object count matches rev-list`);
  const mismatched = objects.filter((o) => {
    const want = expected.get(o.oid);
    return !want || want.type !== o.type || !want.data.equals(o.data);
  });
  t.same(mismatched.map((o) => o.oid), [], `${label}: every object equals git cat-file`);
  t.equal(new Set(objects.map((o) => o.oid)).size, oids.length, `${label}: every object id present once`);
}

t.test('OFS_DELTA pack from git pack-objects', async (t) => {
  const pack = packAll(repo);
  const objects = await collect(readPack(once(pack)));
  assertAllObjects(t, objects, 'whole');
  const deltas = objects.filter((o) => o.delta);
  t.ok(deltas.length > 20, `pack has deltas (${deltas.length})`);
  t.ok(deltas.every((o) => o.delta === 'ofs'), 'all deltas are OFS_DELTA');
  t.ok(Math.max(...objects.map((o) => o.depth)) > 20, 'pack has long delta chains');
  const gitDepths = gitPackDepths(t, repo, pack);
  t.same(new Map(objects.map((o) => [o.oid, o.depth])), gitDepths, 'chain depths equal git verify-pack -v');
  t.same(objects.map((o) => o.offset), [...objects.map((o) => o.offset)].sort((a, b) => a - b), 'yielded in pack order');

  const random = seededRandom(42);
  const chunkings: Array<[string, () => number]> = [
    ['1-byte chunks', () => 1],
    ['7-byte chunks', () => 7],
    ['random small chunks', () => 1 + Math.floor(random() * 64)],
    ['random large chunks', () => 1 + Math.floor(random() * 20000)],
  ];
  for (const [label, sizes] of chunkings) {
    assertAllObjects(t, await collect(readPack(chunked(pack, sizes))), label);
  }
});

t.test('REF_DELTA pack from git pack-objects --no-delta-base-offset', async (t) => {
  const pack = packAll(repo, { ofs: false });
  const objects = await collect(readPack(chunked(pack, () => 13)));
  assertAllObjects(t, objects, 'ref-delta');
  const deltas = objects.filter((o) => o.delta);
  t.ok(deltas.length > 20, `pack has deltas (${deltas.length})`);
  t.ok(deltas.every((o) => o.delta === 'ref'), 'all deltas are REF_DELTA');
  t.same(new Map(objects.map((o) => [o.oid, o.depth])), gitPackDepths(t, repo, pack), 'depths equal git verify-pack -v');

  // Reverse the entries: now every base comes after its deltas, which must wait for it.
  const byOffset = [...objects].sort((a, b) => a.offset - b.offset);
  const entries = byOffset.map((o, i) => pack.subarray(o.offset, byOffset[i + 1]?.offset ?? pack.length - 20));
  const reversed = buildPack(entries.reverse());
  const again = await collect(readPack(chunked(reversed, () => 1000)));
  assertAllObjects(t, again, 'reversed');
  const offsets = again.map((o) => o.offset);
  t.notSame(offsets, [...offsets].sort((a, b) => a - b), 'deltas waited for bases that came later');
  t.same(new Map(again.map((o) => [o.oid, o.depth])), new Map(objects.map((o) => [o.oid, o.depth])), 'same chains');
});

t.test('limits that a git pack must stay within', async (t) => {
  const pack = packAll(repo);
  await t.rejects(collect(readPack(once(pack), { maxDeltaDepth: 1 })), packError('bad-delta'), 'chains deeper than 1');
  await t.rejects(collect(readPack(once(pack), { maxRetainedBytes: 1000 })), packError('too-large'), 'bases dropped');
  await t.rejects(collect(readPack(once(pack), { maxObjects: 10 })), packError('too-large'), 'object count');
  await t.rejects(collect(readPack(once(pack), { maxObjectSize: 1000 })), packError('too-large'), 'object size');

  // Without deltas nothing needs to be retained, so a tiny budget is fine.
  const flat = packAll(repo, { depth: 0 });
  const objects = await collect(readPack(once(flat), { maxRetainedBytes: 1000, maxDeltaDepth: 0 }));
  assertAllObjects(t, objects, 'no deltas');
  t.ok(objects.every((o) => o.depth === 0), 'no object was a delta');
});

t.test('stopping early releases the source', async (t) => {
  const pack = packAll(repo);
  let released = false;
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      yield* chunked(pack, () => 100);
    } finally {
      released = true;
    }
  }
  for await (const obj of readPack(source())) {
    t.ok(obj.oid);
    break;
  }
  t.ok(released, 'source generator was closed');
});

t.test('errors from the source propagate', async (t) => {
  const pack = packAll(repo);
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield pack.subarray(0, 500);
    throw new Error('connection reset');
  }
  await t.rejects(collect(readPack(failing())), { message: 'connection reset' });
});
