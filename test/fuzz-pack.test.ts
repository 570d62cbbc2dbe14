// Fuzzes the streaming pack readers with mutants of packs `git pack-objects` wrote (OFS_DELTA and
// REF_DELTA), mutated as bytes (half of them with a recomputed checksum, so the mutation is parsed rather
// than caught by the trailer) and as entries (re-deflated, so zlib stays valid and the delta code is
// reached). Every input must end in valid objects or a PackError, within a time limit.
import t from 'tap';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { hashObject } from '../src/pack/oid.js';
import { OBJ_OFS_DELTA, OBJ_REF_DELTA, encodeObjectHeader, encodePackHeader } from '../src/pack/pack-format.js';
import { readPack, readSingleObjectPack, type PackReaderOptions } from '../src/pack/pack-reader.js';
import { encodeOfsDistance, resealPack } from '../fixtures/pack-build.js';
import { collect } from '../fixtures/pack-git.js';
import {
  assertFuzz, check, describeBytes, GENERIC_MUTATORS, mutate, randomInput, resplit, type Rng, runFuzz, streamOf,
} from '../fixtures/fuzz.js';
import { type EntrySeed, makeObjectSeeds, splitPack } from '../fixtures/fuzz-seeds.js';

const seeds = makeObjectSeeds(t);
const ofs = await splitPack(seeds.ofsPack);
const ref = await splitPack(seeds.refPack);
const packs = [seeds.ofsPack, seeds.refPack];

/** Small limits now and then, so the limit checks, eviction and deferral paths are fuzzed too. */
function limits(rng: Rng): PackReaderOptions {
  if (rng.chance(0.75)) return {};
  const opts: PackReaderOptions = {};
  if (rng.chance(0.5)) opts.maxDeltaDepth = rng.int(4);
  if (rng.chance(0.5)) opts.maxRetainedBytes = rng.int(6000);
  if (rng.chance(0.3)) opts.maxObjectSize = rng.int(3000);
  if (rng.chance(0.2)) opts.maxObjects = rng.int(40);
  return opts;
}

/** Reads a whole pack and checks what a successful parse promises. */
async function readAndCheck(pack: Buffer, rng: Rng, opts: PackReaderOptions, coarse = false): Promise<void> {
  const offsets = new Set<number>();
  let count = 0;
  for await (const obj of readPack(streamOf(resplit(rng, pack, coarse)), opts)) {
    count++;
    check(obj.oid === hashObject(obj.type, obj.data), `object at ${obj.offset} has a wrong id`);
    check(!offsets.has(obj.offset), `offset ${obj.offset} yielded twice`);
    offsets.add(obj.offset);
    check(obj.depth <= (opts.maxDeltaDepth ?? 50), 'delta chain deeper than allowed');
    check(obj.data.length <= (opts.maxObjectSize ?? Infinity), 'object larger than allowed');
  }
  check(count === pack.readUInt32BE(8), `${count} objects, the header declares ${pack.readUInt32BE(8)}`);
}

// ---------------------------------------------------------------------------------------------------------
// Entry-level mutants: a pack re-encoded from (changed) entries.

// Most entries of a mutant are unchanged seed entries: deflate each payload once.
const deflateCache = new WeakMap<Buffer, Buffer>();
function deflated(payload: Buffer): Buffer {
  let z = deflateCache.get(payload);
  if (!z) deflateCache.set(payload, (z = deflateSync(payload, { level: 1 })));
  return z;
}

/** Encodes entries into a pack with a correct checksum; OFS_DELTA distances follow the new layout. */
function rebuild(entries: readonly EntrySeed[], opts: { count?: number; distanceDelta?: number[] } = {}): Buffer {
  const parts: Buffer[] = [encodePackHeader(opts.count ?? entries.length)];
  const offsets: number[] = [];
  let offset = 12;
  entries.forEach((e, i) => {
    offsets.push(offset);
    const bytes = [encodeObjectHeader(e.code, e.size)];
    if (e.code === OBJ_OFS_DELTA) {
      const base = e.baseIndex !== undefined && e.baseIndex >= 0 ? offsets[e.baseIndex] : undefined;
      const distance = base === undefined ? 0 : offset - base + (opts.distanceDelta?.[i] ?? 0);
      bytes.push(encodeOfsDistance(Math.max(0, distance)));
    } else if (e.code === OBJ_REF_DELTA) {
      bytes.push(Buffer.from((e.baseOid ?? '').padEnd(40, '0').slice(0, 40), 'hex'));
    }
    bytes.push(deflated(e.payload));
    const entry = Buffer.concat(bytes);
    parts.push(entry);
    offset += entry.length;
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}

const allOids = ofs.objects.map((o) => o.oid);

/** One structural change: content, declared size, type, base, order, or count. */
function mutateEntries(rng: Rng, seed: readonly EntrySeed[]): { entries: EntrySeed[]; count?: number; distanceDelta?: number[] } {
  const entries = seed.map((e) => ({ ...e }));
  const i = rng.int(entries.length);
  const e = entries[i]!;
  switch (rng.int(9)) {
    case 0: // content or delta instructions, size following the content
    case 1:
      e.payload = mutate(rng, e.payload, [], GENERIC_MUTATORS);
      if (rng.chance(0.8)) e.size = e.payload.length;
      break;
    case 2: // declared size off by a little or a lot
      e.size = Math.max(0, rng.pick([e.size + 1, e.size - 1, 0, e.size * 2, 2 ** 31, 2 ** 40]));
      break;
    case 3: // another type code, including the invalid 0 and 5
      e.code = rng.int(8);
      if (e.code === OBJ_REF_DELTA) e.baseOid ??= rng.pick(allOids);
      if (e.code === OBJ_OFS_DELTA) e.baseIndex ??= rng.int(entries.length);
      break;
    case 4: // a different base: another entry (maybe later, maybe itself) or another object id
      e.baseIndex = rng.int(entries.length);
      e.baseOid = rng.chance(0.9) ? rng.pick(allOids) : rng.bytes(20).toString('hex');
      break;
    case 5: { // OFS distance that lands inside or beside the base entry
      const distanceDelta: number[] = [];
      distanceDelta[i] = rng.pick([-2, -1, 1, 2, 5, 1000]);
      return { entries, distanceDelta };
    }
    case 6: { // two entries swapped (bases after their deltas)
      const j = rng.int(entries.length);
      [entries[i], entries[j]] = [entries[j]!, entries[i]!];
      break;
    }
    case 7: // an entry dropped or duplicated
      if (rng.chance(0.5)) entries.splice(i, 1);
      else entries.splice(rng.int(entries.length), 0, { ...e });
      break;
    default: // the header count off by one
      return { entries, count: entries.length + rng.pick([-1, 1]) };
  }
  return { entries };
}

t.test('sanity: the seed packs hold both kinds of delta and read back whole', async (t) => {
  t.ok(ofs.entries.some((e) => e.code === OBJ_OFS_DELTA), 'OFS_DELTA entries');
  t.ok(ref.entries.some((e) => e.code === OBJ_REF_DELTA), 'REF_DELTA entries');
  t.ok(Math.max(...ofs.objects.map((o) => o.depth)) >= 2, 'a delta chain');
  for (const split of [ofs, ref]) {
    const again = await collect(readPack(streamOf([rebuild(split.entries)])));
    t.same(again.map((o) => o.oid), split.objects.map((o) => o.oid), 'the re-encoded entries read back the same');
  }
  t.same(ofs.objects.map((o) => o.oid).sort(), ref.objects.map((o) => o.oid).sort(), 'same objects either way');
});

t.test('readPack on byte-level mutants', async (t) => {
  const report = await runFuzz({
    name: 'pack-bytes',
    generate(rng) {
      if (rng.chance(0.03)) return { pack: randomInput(rng, 64), opts: {} };
      let pack = mutate(rng, rng.pick(packs), packs, GENERIC_MUTATORS);
      if (pack.length > 32 && rng.chance(0.5)) pack = resealPack(pack);
      return { pack, opts: limits(rng) };
    },
    run: ({ pack, opts }, rng) => readAndCheck(pack, rng, opts),
    describe: ({ pack, opts }) => `${JSON.stringify(opts)} ${describeBytes(pack)}`,
  });
  assertFuzz(t, report, { minOk: 1, minErrorKinds: 6 });
});

t.test('readPack on entry-level mutants (valid zlib, valid checksum)', async (t) => {
  const report = await runFuzz({
    name: 'pack-entries',
    generate(rng) {
      const seed = rng.chance(0.5) ? ofs.entries : ref.entries;
      let m = mutateEntries(rng, seed);
      if (rng.chance(0.3)) m = { ...m, ...mutateEntries(rng, m.entries) };
      return { pack: rebuild(m.entries, m), opts: limits(rng) };
    },
    // Coarse chunks: this target is about entry contents; the byte-level one fuzzes the framing.
    run: ({ pack, opts }, rng) => readAndCheck(pack, rng, opts, true),
    describe: ({ pack, opts }) => `${JSON.stringify(opts)} ${describeBytes(pack)}`,
  });
  assertFuzz(t, report, { minOk: 500, minErrorKinds: 6 });
});

t.test('readSingleObjectPack', async (t) => {
  const { pack: blobPack, oid } = seeds.blobPack;
  const [blob] = (await splitPack(blobPack)).entries;
  const report = await runFuzz({
    name: 'single-object',
    generate(rng) {
      const r = rng.float();
      if (r < 0.5) {
        const pack = mutate(rng, blobPack, packs, GENERIC_MUTATORS);
        return { pack: rng.chance(0.5) && pack.length > 32 ? resealPack(pack) : pack, chunkSize: rng.range(1, 64) };
      }
      // A well-formed pack whose one entry has other content, size or type.
      const { entries, count } = mutateEntries(rng, [blob!]);
      return { pack: rebuild(entries, { count: count ?? entries.length }), chunkSize: rng.range(1, 64) };
    },
    async run({ pack, chunkSize }, rng) {
      const obj = await readSingleObjectPack(streamOf(resplit(rng, pack)), oid, { chunkSize });
      const hash = createHash('sha1').update(`${obj.type} ${obj.size}\0`);
      let size = 0;
      for await (const chunk of obj.stream) {
        check(chunk.length > 0 && chunk.length <= chunkSize, 'chunk size');
        hash.update(chunk);
        size += chunk.length;
      }
      check(size === obj.size && hash.digest('hex') === oid, 'streamed content is not the expected object');
    },
    describe: ({ pack, chunkSize }) => `chunkSize ${chunkSize} ${describeBytes(pack)}`,
  });
  assertFuzz(t, report, { minOk: 100, minErrorKinds: 5 });
});
