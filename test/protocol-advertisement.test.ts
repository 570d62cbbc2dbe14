import t from 'tap';
import { parseCapabilityList, parseInfoRefs, parseLsRefs } from '../src/protocol/advertisement.js';
import { decodePkts, encodePkts } from '../src/protocol/pkt-line.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const Z = '0'.repeat(40);
const F = { type: 'flush' } as const;

t.test('v0 advertisement: caps after NUL, symref, peeled tags, service header', async (t) => {
  const wire = encodePkts(
    '# service=git-upload-pack\n', F,
    `${A} HEAD\0multi_ack side-band-64k ofs-delta symref=HEAD:refs/heads/main agent=git/2.39.5 filter\n`,
    `${A} refs/heads/main\n`,
    `${B} refs/tags/v1\n`,
    `${C} refs/tags/v1^{}\n`,
    F,
  );
  const adv = parseInfoRefs(decodePkts(wire), 'git-upload-pack');
  if (adv.version === 2) throw new Error('expected v0');
  t.equal(adv.version, 0);
  t.same([...adv.refs.refs], [['HEAD', A], ['refs/heads/main', A], ['refs/tags/v1', B]]);
  t.same([...adv.refs.symrefs], [['HEAD', 'refs/heads/main']]);
  t.same([...adv.refs.peeled], [['refs/tags/v1', C]]);
  t.equal(adv.refs.capabilities.get('agent'), 'git/2.39.5');
  t.equal(adv.refs.capabilities.get('filter'), '');
  t.ok(adv.refs.capabilities.has('side-band-64k'));
});

t.test('v0 advertisement of an empty repository: capabilities^{} with the zero id', async (t) => {
  const wire = encodePkts('# service=git-receive-pack\n', F, `${Z} capabilities^{}\0report-status delete-refs atomic\n`, F);
  const adv = parseInfoRefs(decodePkts(wire), 'git-receive-pack');
  if (adv.version === 2) throw new Error('expected v0');
  t.equal(adv.refs.refs.size, 0);
  t.same([...adv.refs.capabilities.keys()], ['report-status', 'delete-refs', 'atomic']);
  // Old servers: nothing but the flush.
  const bare = parseInfoRefs(decodePkts(encodePkts('# service=git-receive-pack\n', F, F)), 'git-receive-pack');
  t.equal(bare.version === 2 ? -1 : bare.refs.refs.size, 0);
});

t.test('v1 and v2 answers', async (t) => {
  const v1 = parseInfoRefs(decodePkts(encodePkts('# service=git-upload-pack\n', F, 'version 1\n', `${A} refs/heads/x\0ofs-delta\n`, F)), 'git-upload-pack');
  t.equal(v1.version, 1);
  const v2wire = encodePkts('version 2\n', 'agent=git/2.39.5\n', 'ls-refs=unborn\n', 'fetch=shallow wait-for-done filter\n', 'server-option\n', 'object-format=sha1\n', F);
  const v2 = parseInfoRefs(decodePkts(v2wire), 'git-upload-pack');
  if (v2.version !== 2) throw new Error('expected v2');
  t.equal(v2.capabilities.get('fetch'), 'shallow wait-for-done filter');
  t.equal(v2.capabilities.get('ls-refs'), 'unborn');
  t.equal(v2.capabilities.get('server-option'), '');
  // Some servers send the service header before "version 2".
  const hdr = parseInfoRefs(decodePkts(encodePkts('# service=git-upload-pack\n', F, 'version 2\n', 'fetch\n', F)), 'git-upload-pack');
  t.equal(hdr.version, 2);
});

t.test('malformed advertisements are typed errors', async (t) => {
  const parse = (...items: Parameters<typeof encodePkts>) => () => parseInfoRefs(decodePkts(encodePkts(...items)), 'git-upload-pack');
  t.throws(parse('# service=git-receive-pack\n', F, F), { name: 'ProtocolError', code: 'bad-advertisement' }, 'wrong service');
  t.throws(parse('# service=git-upload-pack\n', `${A} HEAD\0x\n`), { name: 'ProtocolError', code: 'bad-advertisement' }, 'service header without flush');
  t.throws(parse(`${A} HEAD\0x\n`), { name: 'ProtocolError', code: 'unexpected-eof' }, 'no final flush');
  t.throws(parse(`${A} HEAD\n`, F), { name: 'ProtocolError', code: 'bad-advertisement' }, 'no capabilities');
  t.throws(parse(`${A} HEAD\0x\n`, 'nothex refs/heads/x\n', F), { name: 'ProtocolError', code: 'bad-advertisement' }, 'bad oid');
  t.throws(parse(`${A} capabilities^{}\0x\n`, F), { name: 'ProtocolError', code: 'bad-advertisement' }, 'non-zero capabilities^{}');
  t.throws(parse('ERR access denied\n'), { name: 'RemoteError', remoteMessage: 'access denied' }, 'ERR line');
  t.throws(parse('version 2\n', 'fetch\n'), { name: 'ProtocolError', code: 'unexpected-eof' }, 'v2 without flush');
});

t.test('ls-refs output: symref-target, peeled, unborn', async (t) => {
  const wire = encodePkts(
    `${A} HEAD symref-target:refs/heads/main\n`,
    `${A} refs/heads/main\n`,
    `${B} refs/tags/v1 peeled:${C}\n`,
    `unborn refs/heads/nothing symref-target:refs/heads/x\n`,
    F,
  );
  const list = parseLsRefs(decodePkts(wire));
  t.same([...list.refs], [['HEAD', A], ['refs/heads/main', A], ['refs/tags/v1', B]]);
  t.same([...list.symrefs], [['HEAD', 'refs/heads/main'], ['refs/heads/nothing', 'refs/heads/x']]);
  t.same([...list.peeled], [['refs/tags/v1', C]]);
  t.throws(() => parseLsRefs(decodePkts(encodePkts(`${A}\n`, F))), { name: 'ProtocolError' });
  t.throws(() => parseLsRefs(decodePkts(encodePkts(`${A} refs/heads/x\n`))), { name: 'ProtocolError', code: 'unexpected-eof' });
});

t.test('capability list parsing', async (t) => {
  const caps = parseCapabilityList(' a b=c  symref=HEAD:refs/heads/x symref=X:Y d=');
  t.same([...caps], [['a', ''], ['b', 'c'], ['symref', 'HEAD:refs/heads/x'], ['d', '']]);
});
