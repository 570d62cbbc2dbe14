import t from 'tap';
import { ProtocolError, RemoteError } from '../src/protocol/errors.js';
import { encodePkts, type PktInput, PktReader } from '../src/protocol/pkt-line.js';
import { demuxSideband } from '../src/protocol/sideband.js';

const band = (n: number, data: string | Buffer) => Buffer.concat([Buffer.from([n]), Buffer.from(data)]);

async function* once(buf: Buffer): AsyncGenerator<Uint8Array> {
  yield buf;
}

async function demux(items: PktInput[], onProgress?: (m: string) => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of demuxSideband(new PktReader(once(encodePkts(...items))), onProgress)) parts.push(c);
  return Buffer.concat(parts);
}

t.test('band 1 is data, band 2 progress, a flush ends the stream', async (t) => {
  const progress: string[] = [];
  const data = await demux(
    [band(1, 'PACK'), band(2, 'Counting objects: 1\r'), band(1, Buffer.from([0, 1, 2])), '', band(2, ''), band(1, 'end'), { type: 'flush' }, 'after'],
    (m) => progress.push(m),
  );
  t.same([...data], [...Buffer.from('PACK'), 0, 1, 2, ...Buffer.from('end')]);
  t.same(progress, ['Counting objects: 1\r']);
});

t.test('what follows the flush stays unread', async (t) => {
  const reader = new PktReader(once(encodePkts(band(1, 'x'), { type: 'flush' }, 'next\n')));
  for await (const _ of demuxSideband(reader)) void _;
  const next = await reader.next();
  t.equal(next?.type === 'data' && next.payload.toString(), 'next\n');
});

t.test('band 3 rejects with RemoteError carrying the server message', async (t) => {
  const err = await demux([band(1, 'PACK'), band(3, 'fatal: out of memory\n'), { type: 'flush' }]).catch((e: unknown) => e);
  t.ok(err instanceof RemoteError);
  t.equal((err as RemoteError).remoteMessage, 'fatal: out of memory');
});

t.test('an ERR pkt inside the stream rejects with RemoteError', async (t) => {
  await t.rejects(demux(['ERR upload-pack: not our ref 1234\n']), { name: 'RemoteError', remoteMessage: 'upload-pack: not our ref 1234' });
  const progress: string[] = [];
  await t.rejects(
    demux([band(2, 'Counting\n'), band(1, 'PACK'), 'ERR upload-pack: aborting\n', band(1, 'more'), { type: 'flush' }], (m) => progress.push(m)),
    { name: 'RemoteError', remoteMessage: 'upload-pack: aborting' },
    'a plain ERR line among band packets',
  );
  t.same(progress, ['Counting\n']);
});

t.test('malformed streams reject with ProtocolError, never hang', async (t) => {
  await t.rejects(demux([band(1, 'x')]), { name: 'ProtocolError', code: 'unexpected-eof' }, 'no flush');
  await t.rejects(demux([band(4, 'x'), { type: 'flush' }]), { name: 'ProtocolError', code: 'bad-sideband' }, 'band 4');
  await t.rejects(demux([band(1, 'x'), { type: 'delim' }]), { name: 'ProtocolError', code: 'bad-sideband' }, 'delim');
  const truncated = Buffer.concat([encodePkts(band(1, 'abc')), Buffer.from('0010\x01ab')]);
  const parts = (async () => {
    for await (const _ of demuxSideband(new PktReader(once(truncated)))) void _;
  })();
  await t.rejects(parts, ProtocolError, 'truncated pkt');
});
