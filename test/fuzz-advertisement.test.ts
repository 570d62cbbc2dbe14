// Fuzzes the advertisement parsers (info/refs v0/v1/v2, ls-refs, capability lists) with mutants of what
// `git http-backend` really answers, mutated as bytes and as pkt lists: valid result or typed error only.
import t from 'tap';
import {
  type InfoRefs, parseCapabilityList, parseInfoRefs, parseLsRefs, parseV0Refs, parseV2Capabilities, type RefList,
} from '../src/protocol/advertisement.js';
import { isSha1OrSha256Hex } from '../src/pack/object.js';
import { decodePkts, encodePkts, type Pkt } from '../src/protocol/pkt-line.js';
import {
  assertFuzz, check, GENERIC_MUTATORS, mutate, randomInput, type Rng, runFuzz, tweakPktLength,
} from '../fixtures/fuzz.js';
import { captureWire } from '../fixtures/fuzz-seeds.js';

const wire = await captureWire(t);
const UPLOAD = 'git-upload-pack';
const RECEIVE = 'git-receive-pack';
const MUTATORS = [...GENERIC_MUTATORS, tweakPktLength];
const byteSeeds = [wire.infoRefsV0, wire.infoRefsV2, wire.infoRefsReceive, wire.lsRefs];
const OID = '7b4d0f3c2a1e9d8c7b6a5f4e3d2c1b0a99887766';
const F = { type: 'flush' } as const;

/**
 * ls-refs answers that once broke the fuzz properties, kept as fixed cases (README, "Tests"): each runs as it
 * is on every run, and is mutated like the captures. Add one per failure found, saying what it broke.
 */
const LS_REFS_REGRESSIONS = [
  // An empty `symref-target:` was kept as a symref to '' (parseLsRefs now checks attributes like refs).
  encodePkts(`${OID} HEAD symref-target:\n`, F),
  // A `peeled:` value that is no object id was kept in RefList.peeled.
  encodePkts(`${OID} refs/tags/v1 peeled:${OID.slice(0, 39)}\n`, F),
];

/** Lines that sit on the parsers' decision points, for the pkt-level mutator to insert or substitute. */
const LINES = [
  '# service=git-upload-pack\n', '# service=git-receive-pack\n', 'version 2\n', 'version 1\n', 'version 3\n',
  `${'0'.repeat(40)} capabilities^{}\0report-status symref=HEAD:refs/heads/main\n`, `${wire.head} HEAD\0side-band-64k symref=HEAD\n`,
  `${wire.head} refs/tags/v1^{}\n`, `shallow ${wire.head}\n`, `unborn HEAD symref-target:refs/heads/main\n`,
  `${wire.head} refs/x peeled:${wire.head} symref-target:\n`, 'ERR no such repository\n', 'agent=git/2\n', '=value\n',
  'fetch=shallow filter\n', `${wire.head.slice(0, 39)} refs/short\n`, `${'A'.repeat(40)} refs/upper\n`, '\n', ' \0 \0\n',
];

/**
 * A mutant at the level of pkts: a line dropped, duplicated, swapped, replaced by a decision-point line,
 * its text mutated, or a flush/delim/response-end inserted, then framed correctly again.
 */
function mutatePkts(rng: Rng, pkts: Pkt[]): Pkt[] {
  const out = [...pkts];
  const i = rng.int(out.length + 1);
  switch (rng.int(6)) {
    case 0: out.splice(i, 1); break;
    case 1: if (out[i]) out.splice(i, 0, out[i]!); break;
    case 2: out.splice(i, 0, { type: rng.pick(['flush', 'delim', 'response-end'] as const) }); break;
    case 3: out.splice(i, rng.int(2), { type: 'data', payload: Buffer.from(rng.pick(LINES)) }); break;
    case 4: {
      const j = rng.int(out.length);
      if (out[i] && out[j]) [out[i], out[j]] = [out[j]!, out[i]!];
      break;
    }
    default: {
      const p = out[i];
      if (p?.type === 'data') out[i] = { type: 'data', payload: mutate(rng, p.payload, [], GENERIC_MUTATORS) };
    }
  }
  return out;
}

/** A byte-level mutant, a pkt-level mutant (so framing holds and the parser itself is reached), or noise. */
function mutant(rng: Rng, seed: Buffer): Buffer {
  const r = rng.float();
  if (r < 0.05) return randomInput(rng, 80);
  if (r < 0.45) return mutate(rng, seed, byteSeeds, MUTATORS);
  let pkts = decodePkts(seed);
  for (let k = rng.range(1, 3); k > 0; k--) pkts = mutatePkts(rng, pkts);
  return encodePkts(...pkts);
}

function checkRefList(list: RefList): void {
  for (const [name, oid] of list.refs) check(name !== '' && isSha1OrSha256Hex(oid), `bad ref ${name} -> ${oid}`);
  for (const [name, oid] of list.peeled) check(name !== '' && isSha1OrSha256Hex(oid), `bad peeled ${name} -> ${oid}`);
  for (const [name, target] of list.symrefs) check(name !== '' && target !== '', `bad symref ${name} -> ${target}`);
  for (const [k, v] of list.capabilities) check(typeof k === 'string' && typeof v === 'string', 'capability');
}

function checkInfoRefs(adv: InfoRefs): void {
  if (adv.version === 2) {
    for (const [k] of adv.capabilities) check(k !== '', 'empty capability name');
  } else {
    checkRefList(adv.refs);
  }
}

t.test('parseInfoRefs on upload-pack and receive-pack advertisements', async (t) => {
  const seeds = [
    { service: UPLOAD, buf: wire.infoRefsV0 },
    { service: UPLOAD, buf: wire.infoRefsV2 },
    { service: RECEIVE, buf: wire.infoRefsReceive },
  ];
  const report = await runFuzz({
    name: 'info-refs',
    generate: (rng) => {
      const s = rng.pick(seeds);
      return { service: s.service, buf: mutant(rng, s.buf) };
    },
    run: ({ service, buf }) => checkInfoRefs(parseInfoRefs(decodePkts(buf), service)),
    describe: ({ service, buf }) => `${service} ${buf.toString('hex')}`,
  });
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 4 });
});

t.test('parseLsRefs', async (t) => {
  const seeds = [wire.lsRefs, wire.lsRefs, wire.lsRefs, ...LS_REFS_REGRESSIONS];
  const report = await runFuzz({
    name: 'ls-refs',
    generate: (rng) => mutant(rng, rng.pick(seeds)),
    run: (buf) => checkRefList(parseLsRefs(decodePkts(buf))),
    regressions: LS_REFS_REGRESSIONS,
  });
  t.equal(report.regressions, LS_REFS_REGRESSIONS.length, 'every regression input ran');
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 3 });
});

t.test('parseV0Refs and parseV2Capabilities on bare pkt lists', async (t) => {
  // The advertisements without their `# service=` / `version 2` headers.
  const v0 = encodePkts(...decodePkts(wire.infoRefsV0).slice(2));
  const v2 = encodePkts(...decodePkts(wire.infoRefsV2).slice(1));
  const report = await runFuzz({
    name: 'v0-refs/v2-caps',
    generate: (rng) => {
      const version = rng.chance(0.5) ? 0 : 2;
      return { version, buf: mutant(rng, version === 0 ? v0 : v2) };
    },
    run({ version, buf }) {
      const pkts = decodePkts(buf);
      if (version === 0) checkRefList(parseV0Refs(pkts));
      else for (const [k] of parseV2Capabilities(pkts)) check(k !== '', 'empty capability name');
    },
    describe: ({ version, buf }) => `v${version} ${buf.toString('hex')}`,
  });
  assertFuzz(t, report, { minOk: 1000, minErrorKinds: 4 });
});

t.test('parseCapabilityList never throws and keeps the first value', async (t) => {
  const text = decodePkts(wire.infoRefsV0)[2]!;
  const caps = text.type === 'data' ? text.payload.subarray(text.payload.indexOf(0) + 1) : Buffer.alloc(0);
  const report = await runFuzz({
    name: 'capability-list',
    generate: (rng) => mutate(rng, caps, [], GENERIC_MUTATORS).toString('utf8'),
    run(line) {
      const parsed = parseCapabilityList(line);
      for (const word of line.split(' ').filter(Boolean)) {
        const key = word.split('=')[0]!;
        check(parsed.has(key), `capability ${key} lost`);
      }
    },
  });
  assertFuzz(t, report, { minOk: 10_000, minErrorKinds: 0 });
});
