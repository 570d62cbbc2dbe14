import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { git, gitText } from '../fixtures/repo.js';
import { decodePkts, encodePkts } from '../src/protocol/pkt-line.js';
import { objectInfoRequest, offersObjectInfo, readObjectInfo } from '../src/protocol/object-info.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { Remote } from '../src/protocol/remote.js';

const OID = 'a'.repeat(40);

t.test('offersObjectInfo reads the v2 advertisement', async (t) => {
  t.equal(offersObjectInfo(new Map([['object-info', '']])), true);
  t.equal(offersObjectInfo(new Map([['object-info', 'size']])), true);
  t.equal(offersObjectInfo(new Map([['object-info', 'type']])), false);
  t.equal(offersObjectInfo(new Map([['fetch', '']])), false);
});

t.test('the request asks for sizes of each id', async (t) => {
  const pkts = decodePkts(objectInfoRequest(new Map([['agent', 'git/2']]), [OID]));
  const text = pkts.map((p) => (p.type === 'data' ? p.payload.toString() : `<${p.type}>`));
  t.same(text, ['command=object-info\n', 'agent=git/gitrest-0.1\n', '<delim>', 'size\n', `oid ${OID}\n`, '<flush>']);
  t.throws(() => objectInfoRequest(new Map(), []), TypeError);
  t.throws(() => objectInfoRequest(new Map(), ['HEAD']), TypeError);
});

t.test('the answer: sizes, an unknown object left out, malformed answers refused', async (t) => {
  const b = 'b'.repeat(40);
  const sizes = readObjectInfo(decodePkts(encodePkts('size\n', `${OID} 12\n`, `${b} \n`, { type: 'flush' })));
  t.same([...sizes], [[OID, 12]]);
  t.throws(() => readObjectInfo(decodePkts(encodePkts('type\n', { type: 'flush' }))), ProtocolError);
  t.throws(() => readObjectInfo(decodePkts(encodePkts('size\n', `${OID} x\n`, { type: 'flush' }))), ProtocolError);
  t.throws(() => readObjectInfo(decodePkts(encodePkts('size\n', `${OID} 1\n`))), ProtocolError);
});

t.test('against git: sizes in one POST in v2, nothing sent in v0', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('sizes', { seed: [[{ path: 'a.txt', content: 'hello\n' }, { path: 'b', content: '' }]] });
  const a = await gitText(['rev-parse', 'main:a.txt'], { cwd: repo.dir });
  const b = await gitText(['rev-parse', 'main:b'], { cwd: repo.dir });

  // git 2.39 advertises object-info in v2 always (later versions only with transfer.advertiseObjectInfo).
  await git(['config', 'transfer.advertiseObjectInfo', 'true'], { cwd: repo.dir });
  const v0 = new Remote({ url: repo.url, protocol: 0 });
  t.teardown(() => v0.close());
  await v0.lsRefs();
  const sent = v0.stats.requests;
  t.equal(await v0.objectInfo([a]), undefined, 'v0 has no object-info');
  t.equal(v0.stats.requests, sent, 'and nothing is sent');

  const remote = new Remote({ url: repo.url });
  t.teardown(() => remote.close());
  await remote.lsRefs(); // learn the capabilities first, so the next call is counted alone
  const before = remote.stats.requests;
  const sizes = await remote.objectInfo([a, b, 'c'.repeat(40)]);
  t.equal(remote.stats.requests - before, 1, 'one round trip');
  t.same(sizes && [...sizes].sort(), [[a, 6], [b, 0]].sort(), 'sizes as git has them; the missing id left out');
});
