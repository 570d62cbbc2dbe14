import t from 'tap';
import { ProtocolError } from '../src/protocol/errors.js';
import {
  DELIM,
  decodePkts,
  encodePkts,
  errPktMessage,
  FLUSH,
  MAX_PKT_PAYLOAD,
  type Pkt,
  pktLine,
  PktReader,
  pktText,
  RESPONSE_END,
} from '../src/protocol/pkt-line.js';

async function* chunksOf(buf: Buffer, ...cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of cuts) {
    yield buf.subarray(at, cut);
    at = cut;
  }
  yield buf.subarray(at);
}

async function readAll(reader: PktReader): Promise<Pkt[]> {
  const out: Pkt[] = [];
  for await (const p of reader) out.push(p);
  return out;
}

const show = (pkts: Pkt[]) => pkts.map((p) => (p.type === 'data' ? p.payload.toString('latin1') : `<${p.type}>`));

t.test('pktLine frames payloads with a hex length that counts itself', async (t) => {
  t.equal(pktLine('a\n').toString(), '0006a\n');
  t.equal(pktLine('a').toString(), '0005a');
  t.equal(pktLine('foobar\n').toString(), '000bfoobar\n');
  t.equal(pktLine('').toString(), '0004');
  t.equal(pktLine(Buffer.from([0, 1, 2, 255])).toString('hex'), Buffer.from('0008').toString('hex') + '000102ff');
  t.equal(FLUSH.toString(), '0000');
  t.equal(DELIM.toString(), '0001');
  t.equal(RESPONSE_END.toString(), '0002');
  const max = pktLine(Buffer.alloc(MAX_PKT_PAYLOAD, 0x61));
  t.equal(max.subarray(0, 4).toString(), 'fff0');
  t.equal(max.length, 65520);
  t.throws(() => pktLine(Buffer.alloc(MAX_PKT_PAYLOAD + 1)), RangeError);
});

t.test('encode/decode roundtrip including special packets and binary data', async (t) => {
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const wire = encodePkts('command=ls-refs\n', { type: 'delim' }, 'peel\n', binary, '', { type: 'flush' }, { type: 'response-end' });
  t.equal(wire.subarray(0, 24).toString(), '0014command=ls-refs\n0001');
  const pkts = decodePkts(wire);
  t.same(show(pkts), ['command=ls-refs\n', '<delim>', 'peel\n', binary.toString('latin1'), '', '<flush>', '<response-end>']);
  t.same(decodePkts(Buffer.alloc(0)), []);
  // Uppercase hex is accepted on input.
  t.same(show(decodePkts(Buffer.from('000Aabcdef'))), ['abcdef']);
});

t.test('malformed lengths are rejected strictly', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['0003', 'bad-pkt-line', 'length 3 is reserved/invalid'],
    ['zzzz', 'bad-pkt-line', 'non-hex length'],
    ['00g5a', 'bad-pkt-line', 'non-hex digit'],
    [' 005a', 'bad-pkt-line', 'space in length'],
    ['fff1' + 'a'.repeat(65517), 'bad-pkt-line', 'longer than 65520'],
    ['ffff', 'bad-pkt-line', 'length 65535'],
    ['000', 'unexpected-eof', 'truncated length'],
    ['0009abc', 'unexpected-eof', 'truncated payload'],
    ['0006a\n0', 'unexpected-eof', 'truncated after a good line'],
  ];
  for (const [wire, code, why] of cases) {
    t.throws(() => decodePkts(Buffer.from(wire)), { name: 'ProtocolError', code }, `decodePkts: ${why}`);
    const reader = new PktReader(chunksOf(Buffer.from(wire)));
    await t.rejects(readAll(reader), { name: 'ProtocolError', code }, `PktReader: ${why}`);
  }
  const err = (() => {
    try {
      decodePkts(Buffer.from('0003'));
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof ProtocolError);
});

t.test('streaming decoder: any split of the input gives the same pkts', async (t) => {
  const wire = encodePkts('# service=git-upload-pack\n', { type: 'flush' }, 'x', '', Buffer.alloc(300, 7), { type: 'delim' }, 'end\n', { type: 'flush' });
  const expected = show(decodePkts(wire));
  for (let i = 0; i <= wire.length; i++) {
    const got = show(await readAll(new PktReader(chunksOf(wire, i))));
    if (JSON.stringify(got) !== JSON.stringify(expected)) t.fail(`split at ${i}`);
  }
  // Three-way splits around the header of the third pkt, and one-byte chunks.
  for (let i = 25; i < 40; i++) {
    for (let j = i; j < 45; j++) {
      const got = show(await readAll(new PktReader(chunksOf(wire, i, j))));
      if (JSON.stringify(got) !== JSON.stringify(expected)) t.fail(`split at ${i},${j}`);
    }
  }
  const bytes = (async function* () {
    for (const b of wire) yield Buffer.from([b]);
  })();
  t.same(show(await readAll(new PktReader(bytes))), expected);
  t.pass('all splits decoded identically');
});

t.test('next() returns null at a clean end; rest() hands over unread bytes then the stream', async (t) => {
  const wire = Buffer.concat([encodePkts('NAK\n'), Buffer.from('PACKrawbytes'), Buffer.from('more')]);
  const reader = new PktReader(chunksOf(wire, 6, 14));
  const first = await reader.next();
  t.same(first && show([first]), ['NAK\n']);
  const rest: Buffer[] = [];
  for await (const c of reader.rest()) rest.push(c);
  t.equal(Buffer.concat(rest).toString(), 'PACKrawbytesmore');
  t.equal(await reader.next(), null);
  t.equal(await new PktReader(chunksOf(Buffer.alloc(0))).next(), null);
});

t.test('close() releases the source', async (t) => {
  let finished = false;
  const source = (async function* () {
    try {
      yield encodePkts('a\n', 'b\n');
      yield encodePkts('c\n');
    } finally {
      finished = true;
    }
  })();
  const reader = new PktReader(source);
  await reader.next();
  await reader.close();
  t.ok(finished);
  t.equal(await reader.next(), null);
});

t.test('pktText strips one LF; ERR lines are recognised', async (t) => {
  t.equal(pktText(Buffer.from('abc\n')), 'abc');
  t.equal(pktText(Buffer.from('abc')), 'abc');
  t.equal(pktText(Buffer.from('abc\n\n')), 'abc\n');
  t.equal(errPktMessage(Buffer.from('ERR upload-pack: not our ref\n')), 'upload-pack: not our ref');
  t.equal(errPktMessage(Buffer.from('ERROR')), undefined);
  t.equal(errPktMessage(Buffer.from('\x01ERR x')), undefined);
});

t.test('both decoders turn an ERR line into RemoteError where it stands', async (t) => {
  const wire = encodePkts('version 2\n', 'ERR access denied\n', 'never read\n');
  t.throws(() => decodePkts(wire), { name: 'RemoteError', remoteMessage: 'access denied' });
  const reader = new PktReader((async function* () { yield wire; })());
  const first = await reader.next();
  t.equal(first?.type === 'data' && first.payload.toString(), 'version 2\n', 'lines before it are data');
  await t.rejects(reader.next(), { name: 'RemoteError', remoteMessage: 'access denied' });
  t.same(decodePkts(encodePkts('ERROR\n', '\x01ERR x')).length, 2, 'only "ERR " at the start counts');
});
