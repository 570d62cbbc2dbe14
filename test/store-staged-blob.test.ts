// Request bodies become blobs: the id is git's, small bodies stay in memory, large ones are spooled
// (deflated on arrival when their length is declared), and a body that disagrees with its length fails.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { git, gitText } from '../fixtures/repo.js';
import { hashObject } from '../src/pack/oid.js';
import { stageBody } from '../src/store/staged-blob.js';
import { StoreError } from '../src/store/store.js';

async function* chunks(data: Buffer, size = 70_000): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
const collect = async (it: AsyncIterable<Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
};
const opts = { maxBodyBytes: 8 << 20, spoolThresholdBytes: 256 * 1024 };

t.test('small, large with a length, large without one: same id as git, same bytes back', async (t) => {
  for (const [label, data, declared] of [
    ['small', randomBytes(1000), true],
    ['large, declared length', randomBytes(3 << 20), true],
    ['large, chunked', randomBytes(3 << 20), false],
  ] as const) {
    const blob = await stageBody({ stream: chunks(data), ...(declared ? { length: data.length } : {}) }, opts);
    t.teardown(() => blob.dispose());
    t.equal(blob.oid, await gitText(['hash-object', '--stdin'], { input: data }), `${label}: the id git computes`);
    t.equal(blob.size, data.length);
    t.ok((await collect(blob.open())).equals(data), `${label}: open() gives the bytes back`);
    t.equal(blob.data !== undefined, label === 'small', `${label}: kept in memory only when small`);
    if (label === 'large, declared length') {
      t.ok(blob.deflated, 'deflated on arrival');
      t.ok(inflateSync(await collect(blob.deflated!())).equals(data), 'the spool is one zlib stream of the bytes');
    } else {
      t.equal(blob.deflated, undefined);
    }
  }
  t.equal(hashObject('blob', Buffer.alloc(0)), (await git(['hash-object', '--stdin'], { input: '' })).toString().trim());
});

t.test('a body that disagrees with its declared length, or is too large, fails with a store error', async (t) => {
  const data = randomBytes(1 << 20);
  const cases = [
    { label: 'shorter than declared (spooled)', body: { stream: chunks(data), length: data.length + 1 }, kind: 'bad-request' },
    { label: 'longer than declared (spooled)', body: { stream: chunks(data), length: data.length - 1 }, kind: 'bad-request' },
    { label: 'shorter than declared (memory)', body: { stream: chunks(data.subarray(0, 10)), length: 11 }, kind: 'bad-request' },
    { label: 'declared over the limit', body: { stream: chunks(data), length: 9 << 20 }, kind: 'too-large' },
    { label: 'chunked over the limit', body: { stream: chunks(Buffer.concat([data, data, data, data, data, data, data, data, data])) }, kind: 'too-large' },
  ];
  for (const c of cases) {
    const err = await stageBody(c.body, opts).then(() => null, (e: unknown) => e);
    t.type(err, StoreError, c.label);
    t.equal((err as StoreError).kind, c.kind, c.label);
  }
  // An error from the body stream itself (the client went away) comes through unchanged.
  const gone = new Error('client went away');
  const failing = async function* () {
    yield data;
    throw gone;
  };
  t.equal(await stageBody({ stream: failing(), length: 2 << 20 }, opts).then(() => null, (e: unknown) => e), gone);
});

t.test('a large body is spooled adaptively: its random half stored, its text half compressed', async (t) => {
  const line = (i: number) => `{"id":${i},"name":"user ${i % 97}","tags":["a","b"]}\n`;
  const textHalf = Buffer.from(Array.from({ length: 40_000 }, (_, i) => line(i)).join('')).subarray(0, 1 << 20);
  const data = Buffer.concat([randomBytes(1 << 20), textHalf]);
  const blob = await stageBody({ stream: chunks(data, 33_333), length: data.length }, opts);
  t.teardown(() => blob.dispose());
  const spool = await collect(blob.deflated!());
  t.ok(inflateSync(spool).equals(data), 'the spool inflates to the body');
  t.ok(spool.length > 1 << 20 && spool.length < (1 << 20) * 1.2, `${spool.length} bytes spooled for ${data.length}`);
  t.equal(blob.oid, await gitText(['hash-object', '--stdin'], { input: data }));
});
