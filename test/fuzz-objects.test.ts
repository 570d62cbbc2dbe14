// Fuzzes the object decoders (tree, commit, tag) and applyDelta with mutants of objects and deltas git
// made. Beyond "valid result or PackError", a decoded object must encode back consistently.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { decodeCommit, encodeCommit } from '../src/pack/commit.js';
import { applyDelta, deltaResultSize } from '../src/pack/delta.js';
import { decodeTag, encodeTag } from '../src/pack/tag.js';
import { decodeTree, encodeTree } from '../src/pack/tree.js';
import { PackError } from '../src/pack/errors.js';
import { parseIdentity } from '../src/pack/identity.js';
import { assertFuzz, caseRng, check, fuzzSeed, GENERIC_MUTATORS, mutate, randomInput, type Rng, runFuzz } from '../fixtures/fuzz.js';
import { deltasOf, makeObjectSeeds } from '../fixtures/fuzz-seeds.js';
import { git, initRepo } from '../fixtures/pack-git.js';

const seeds = makeObjectSeeds(t);
const deltas = [...(await deltasOf(seeds.ofsPack)), ...(await deltasOf(seeds.refPack))];

function input(rng: Rng, pool: readonly Buffer[]): Buffer {
  if (rng.chance(0.03)) return randomInput(rng, 64);
  return mutate(rng, rng.pick(pool), pool, GENERIC_MUTATORS);
}

/** Encoding a decoded object may refuse (PackError) what the lenient decoder kept, but must not change it. */
function reencodes<T>(value: T, encode: (v: T) => Buffer, decode: (b: Buffer) => T): void {
  let bytes: Buffer;
  try {
    bytes = encode(value);
  } catch (err) {
    check(err instanceof PackError, `encode threw ${(err as Error).name}`);
    return;
  }
  check(isDeepStrictEqual(decode(bytes), value), 'decode(encode(x)) differs from x');
}

t.test('sanity: the seeds are what git made and decode', async (t) => {
  t.ok(seeds.trees.length >= 4 && seeds.commits.length >= 7 && seeds.tags.length === 1, 'trees, commits and a tag');
  t.ok(deltas.length >= 8, `${deltas.length} git deltas`);
  for (const tree of seeds.trees) t.ok(encodeTree(decodeTree(tree)).equals(tree), 'tree roundtrips');
  const modes = new Set(seeds.trees.flatMap((tr) => decodeTree(tr).map((e) => e.mode)));
  t.same([...modes].sort(), ['100644', '100755', '120000', '160000', '40000'], 'every entry kind');
  t.ok(seeds.commits.some((c) => decodeCommit(c).parents.length === 2), 'a merge');
  t.ok(seeds.commits.some((c) => decodeCommit(c).extraHeaders?.some(([k]) => k === 'gpgsig')), 'a multi-line header');
  for (const { base, delta } of deltas) t.equal(applyDelta(base, delta).length, deltaResultSize(delta));
  t.equal(decodeTag(seeds.tags[0]!).tag, 'v1');
});

t.test('decodeTree: strict, and what it accepts encodes back byte for byte', async (t) => {
  // A legacy mode, a name with non-UTF-8 bytes, and names ordered by the tree-sorts-as-dir rule.
  const hand = Buffer.concat([
    Buffer.from('100664 a\0'), Buffer.alloc(20, 1),
    Buffer.from('100644 a.b\0'), Buffer.alloc(20, 2),
    Buffer.from('40000 a'), Buffer.from([0xff, 0]), Buffer.alloc(20, 3),
  ]);
  const report = await runFuzz({
    name: 'tree',
    generate: (rng) => input(rng, [...seeds.trees, hand]),
    run(buf, rng) {
      const entries = decodeTree(buf, rng.chance(0.1) ? { maxEntries: rng.int(4) } : {});
      check(encodeTree(entries).equals(buf), 'decoded tree does not encode back to the same bytes');
    },
  });
  assertFuzz(t, report, { minOk: 300, minErrorKinds: 2 });
});

t.test('decodeCommit', async (t) => {
  const report = await runFuzz({
    name: 'commit',
    generate: (rng) => input(rng, seeds.commits),
    run(buf) {
      const c = decodeCommit(buf);
      check(c.parents.every((p) => /^[0-9a-f]{40}$/.test(p)), 'parent ids');
      check(Number.isSafeInteger(c.author.timestamp) && Number.isSafeInteger(c.committer.timestamp), 'timestamps');
      reencodes(c, encodeCommit, decodeCommit);
    },
  });
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 1 });
});

t.test('decodeTag', async (t) => {
  const report = await runFuzz({
    name: 'tag',
    generate: (rng) => input(rng, seeds.tags),
    run(buf) {
      const tag = decodeTag(buf);
      check(/^[0-9a-f]{40}$/.test(tag.object) && tag.tag !== '', 'object id and name');
      reencodes(tag, encodeTag, decodeTag);
    },
  });
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 1 });
});

t.test('parseIdentity', async (t) => {
  const lines = ['Ada Ö <ada@example.com> 1700000000 +0100', 'A <> 0 -0000', '<x> 9007199254740991 +9999'].map((s) => Buffer.from(s));
  const report = await runFuzz({
    name: 'identity',
    generate: (rng) => input(rng, lines).toString('utf8'),
    run(line) {
      const id = parseIdentity(line);
      check(Number.isSafeInteger(id.timestamp) && id.timestamp >= 0, 'timestamp');
      check(/^[+-]\d{4}$/.test(id.timezone), 'timezone');
    },
  });
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 1 });
});

/** A delta header size field: little-endian base-128. */
function deltaSize(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n % 128;
    n = Math.floor(n / 128);
    out.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return out;
}

/**
 * Deltas that once broke the fuzz property, kept as fixed cases (README, "Tests"); each runs as it is on
 * every run. Add one per failure found, saying what it broke.
 */
const DELTA_REGRESSIONS = [
  // A declared result size beyond what a Buffer can hold threw a RangeError from the allocation, not a PackError.
  { base: Buffer.from('hello'), delta: Buffer.from([...deltaSize(5), ...deltaSize(2 ** 50), 1, 0x78]), max: undefined },
  // A declared size far beyond what the instructions can produce was allocated before it was found out.
  { base: Buffer.from('hello'), delta: Buffer.from([...deltaSize(5), ...deltaSize(2 ** 30), 1, 0x78]), max: undefined },
];

t.test('applyDelta', async (t) => {
  for (const r of DELTA_REGRESSIONS) t.throws(() => applyDelta(r.base, r.delta), { name: 'PackError' }, 'regression: a PackError');
  const report = await runFuzz({
    regressions: DELTA_REGRESSIONS,
    name: 'delta',
    generate(rng) {
      const pair = rng.pick(deltas);
      const r = rng.float();
      // Mostly the delta is mutated; sometimes the base, or both, or the delta meets a random base.
      const delta = r < 0.85 ? mutate(rng, pair.delta, deltas.map((d) => d.delta), GENERIC_MUTATORS) : pair.delta;
      const base = r >= 0.7 ? (rng.chance(0.5) ? rng.pick(deltas).base : mutate(rng, pair.base)) : pair.base;
      const max = rng.chance(0.1) ? rng.int(2000) : undefined;
      return { base, delta, max };
    },
    run({ base, delta, max }) {
      const out = applyDelta(base, delta, max);
      check(out.length === deltaResultSize(delta), 'result size differs from the declared size');
      check(max === undefined || out.length <= max, 'result beyond maxResultSize');
    },
    describe: ({ base, delta, max }) => `base ${base.toString('hex')} delta ${delta.toString('hex')} max ${max}`,
  });
  assertFuzz(t, report, { minOk: 300, minErrorKinds: 2 });
});

const GIT_TYPE: Record<string, string> = { '100644': 'blob', '100755': 'blob', '120000': 'blob', '160000': 'commit', '40000': 'tree' };

t.test('git agrees with decodeTree on accepted mutants', async (t) => {
  // Spot check against git itself: a mutated tree our decoder accepts must also be one git mktree
  // would write (same bytes), for a bounded number of accepted mutants.
  const empty = initRepo(t, { bare: true }); // no objects, so git cannot object to a mode/type pairing
  let checked = 0;
  for (let i = 0; i < 2000 && checked < 20; i++) {
    const buf = mutate(caseRng(fuzzSeed(), i), seeds.trees[0]!, [], GENERIC_MUTATORS);
    let entries;
    try {
      entries = decodeTree(buf);
    } catch {
      continue;
    }
    // mktree reads one entry per line and writes only the canonical modes: skip mutants it cannot express.
    if (entries.some((e) => e.name.includes(0x0a) || !(e.mode in GIT_TYPE))) continue;
    const listing = entries
      .map((e) => `${e.mode.padStart(6, '0')} ${GIT_TYPE[e.mode]} ${e.oid}\t${e.name.toString('latin1')}`)
      .join('\n');
    const oid = git(empty, ['mktree', '--missing'], Buffer.from(listing + '\n', 'latin1')).toString().trim();
    const made = git(empty, ['cat-file', 'tree', oid]);
    if (!made.equals(buf)) t.fail(`git writes tree ${oid} differently from the accepted mutant ${buf.toString('hex')}`);
    checked++;
  }
  t.ok(checked > 0, `${checked} accepted mutants checked with git mktree`);
});
