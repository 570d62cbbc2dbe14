// Fuzzes pkt-line framing and every pkt-based response reader with mutated captures of real
// `git http-backend` answers: each input must give a valid result or a typed error, never a crash or hang.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import { ZERO_OID } from '../src/pack/object.js';
import { decodePkts, encodePkts, MAX_PKT_PAYLOAD, type Pkt, PktReader } from '../src/protocol/pkt-line.js';
import { readPushResponse } from '../src/protocol/receive-pack.js';
import { demuxSideband } from '../src/protocol/sideband.js';
import { readFetchResponseV0, readFetchResponseV2, type FetchResponse } from '../src/protocol/upload-pack.js';
import {
  assertFuzz, check, GENERIC_MUTATORS, mutate, outcomeOf, randomInput, resplit, type Rng, runFuzz, streamOf, tweakPktLength,
} from '../fixtures/fuzz.js';
import { captureWire } from '../fixtures/fuzz-seeds.js';

const wire = await captureWire(t);
const MUTATORS = [...GENERIC_MUTATORS, tweakPktLength, tweakPktLength, tweakPktLength];

const handBuilt = [
  encodePkts('hello\n', { type: 'flush' }),
  encodePkts('command=ls-refs\n', { type: 'delim' }, 'peel\n', { type: 'flush' }, { type: 'response-end' }),
  encodePkts('ERR access denied\n'),
  encodePkts(Buffer.alloc(0), 'x', Buffer.alloc(1000, 0x61), { type: 'flush' }),
  encodePkts(Buffer.from([2, 0x70, 0x72, 0x6f]), Buffer.from([1, 0x50]), Buffer.from([3, 0x62, 0x61, 0x64]), { type: 'flush' }),
];
/**
 * Inputs that once broke a property of the targets below, kept as fixed cases (README, "Tests"): each runs as it
 * is on every run and is mutated like the captures. None has been found for these targets yet; add one per
 * failure found, saying what it broke.
 */
const REGRESSIONS: Buffer[] = [];
const allSeeds = [
  ...handBuilt, ...REGRESSIONS, wire.infoRefsV0, wire.infoRefsV2, wire.infoRefsReceive, wire.lsRefs, wire.fetchV2, wire.fetchV2Shallow,
  wire.fetchV0Sideband, wire.pushSideband, wire.pushPlain, wire.pushRejected,
];

/** Mostly mutants of the given seeds, sometimes pure noise. */
function input(rng: Rng, seeds: readonly Buffer[]): Buffer {
  if (rng.chance(0.05)) return randomInput(rng, 64);
  return mutate(rng, rng.pick(seeds), allSeeds, MUTATORS);
}

const readerOf = (rng: Rng, buf: Buffer) => new PktReader(streamOf(resplit(rng, buf)));

async function settle<T>(p: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  try {
    return { ok: true, value: await p() };
  } catch (err) {
    return { ok: false, err };
  }
}

t.test('regression inputs run first, as they are, and their failures are reported', async (t) => {
  const seen: string[] = [];
  const report = await runFuzz({
    name: 'self-check',
    generate: () => 'generated',
    run(input: string) {
      seen.push(input);
      if (input === 'kept') throw new TypeError('untyped');
    },
    regressions: ['kept'],
  }, { minRuns: 2, maxRuns: 2 });
  t.same(seen, ['kept', 'generated', 'generated']);
  t.equal(report.regressions, 1);
  t.equal(report.runs, 2);
  t.equal(report.failed, 1);
  t.match(report.failures[0], /^self-check regression 0: TypeError: untyped input "kept"/);
});

t.test('decodePkts and PktReader agree on every input', async (t) => {
  const report = await runFuzz({
    name: 'pkt-line',
    regressions: [...handBuilt, ...REGRESSIONS],
    generate: (rng) => input(rng, allSeeds),
    async run(buf, rng) {
      const whole = await settle(async () => decodePkts(buf));
      const streamed = await settle(async () => {
        const pkts: Pkt[] = [];
        for await (const p of readerOf(rng, buf)) pkts.push(p);
        return pkts;
      });
      if (!whole.ok) {
        check(!streamed.ok && outcomeOf(streamed.err) === outcomeOf(whole.err), 'PktReader and decodePkts disagree');
        throw whole.err;
      }
      if (!streamed.ok) throw streamed.err;
      const norm = (pkts: Pkt[]) => pkts.map((p) => (p.type === 'data' ? { type: p.type, payload: Buffer.from(p.payload) } : p));
      check(isDeepStrictEqual(norm(whole.value), norm(streamed.value)), 'PktReader and decodePkts decode differently');
      for (const p of whole.value) check(p.type !== 'data' || p.payload.length <= MAX_PKT_PAYLOAD, 'oversized payload');
      check(isDeepStrictEqual(norm(decodePkts(encodePkts(...whole.value))), norm(whole.value)), 're-encoding changes the pkts');
    },
  });
  assertFuzz(t, report, { minOk: 500, minErrorKinds: 2 });
});

t.test('demuxSideband', async (t) => {
  const seeds = [wire.pushSideband, wire.pushRejected, handBuilt[4]!, wire.fetchV2.subarray(17), wire.fetchV0Sideband.subarray(64)];
  const report = await runFuzz({
    name: 'sideband',
    generate: (rng) => input(rng, seeds),
    async run(buf, rng) {
      let progress = 0;
      for await (const chunk of demuxSideband(readerOf(rng, buf), (m) => (progress += m.length))) {
        check(chunk.length > 0, 'empty band-1 chunk');
      }
    },
  });
  assertFuzz(t, report, { minOk: 100, minErrorKinds: 3 });
});

/** Reads the pack bytes a fetch response carries to their end (the pack reader has its own fuzzer). */
async function readAll(res: FetchResponse): Promise<void> {
  for (const s of res.shallow) check(typeof s === 'string', 'shallow entry');
  let bytes = 0;
  for await (const chunk of res.pack) bytes += chunk.length;
  check(bytes >= 0, 'pack bytes');
}

t.test('readFetchResponseV2', async (t) => {
  const report = await runFuzz({
    name: 'fetch-v2',
    generate: (rng) => input(rng, [wire.fetchV2, wire.fetchV2Shallow]),
    async run(buf, rng) {
      await readAll(await readFetchResponseV2(readerOf(rng, buf), () => {}));
    },
  });
  assertFuzz(t, report, { minOk: 50, minErrorKinds: 4 });
});

t.test('readFetchResponseV0, side-band and raw', async (t) => {
  const report = await runFuzz({
    name: 'fetch-v0',
    generate: (rng) => {
      const sideband = rng.chance(0.5);
      return { sideband, buf: input(rng, [sideband ? wire.fetchV0Sideband : wire.fetchV0Raw]) };
    },
    async run({ sideband, buf }, rng) {
      await readAll(await readFetchResponseV0(readerOf(rng, buf), sideband, () => {}));
    },
    describe: ({ sideband, buf }) => `sideband=${sideband} ${buf.toString('hex')}`,
  });
  assertFuzz(t, report, { minOk: 50, minErrorKinds: 4 });
});

t.test('readPushResponse', async (t) => {
  const cases = [
    { buf: wire.pushSideband, sideband: true, ref: 'refs/heads/fuzz-a' },
    { buf: wire.pushRejected, sideband: true, ref: 'refs/heads/main' },
    { buf: wire.pushPlain, sideband: false, ref: 'refs/heads/fuzz-b' },
  ];
  const report = await runFuzz({
    name: 'push-response',
    generate: (rng) => {
      const c = rng.pick(cases);
      return { ...c, buf: input(rng, [c.buf]) };
    },
    async run({ buf, sideband, ref }, rng) {
      const updates = [{ ref, oldOid: ZERO_OID, newOid: wire.head }];
      const result = await readPushResponse(readerOf(rng, buf), sideband, updates);
      check(result.refs.length === 1 && result.refs[0]!.ref === ref, 'one result per update');
      check(result.ok === (result.unpack === 'ok' && result.refs[0]!.status === 'ok'), 'ok flag');
    },
    describe: ({ sideband, buf }) => `sideband=${sideband} ${buf.toString('hex')}`,
  });
  assertFuzz(t, report, { minOk: 100, minErrorKinds: 3 });
});
