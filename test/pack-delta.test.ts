import t from 'tap';
import { applyDelta, deltaResultSize } from '../src/pack/delta.js';
import { encodeDelta } from '../fixtures/pack-build.js';
import { packError } from '../fixtures/pack-git.js';

const base = Buffer.from(Array.from({ length: 0x30000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));

t.test('copies and inserts', async (t) => {
  const delta = encodeDelta(base.length, 0x10000 + 3 + 5 + 1, [
    { copy: [0x20000, 0x10000] }, // size 0x10000 is encoded as "no size bytes"
    { insert: Buffer.from('new') },
    { copy: [0x1ff00, 5] }, // offset spanning two bytes with a zero low byte
    { copy: [0, 1] },
  ]);
  const want = Buffer.concat([base.subarray(0x20000, 0x30000), Buffer.from('new'), base.subarray(0x1ff00, 0x1ff05), base.subarray(0, 1)]);
  t.equal(deltaResultSize(delta), want.length);
  t.same(applyDelta(base, delta), want);
  t.same(applyDelta(Buffer.alloc(0), encodeDelta(0, 0, [])), Buffer.alloc(0), 'empty to empty');
});

t.test('rejects malformed deltas', async (t) => {
  const ok = encodeDelta(base.length, 4, [{ copy: [0, 4] }]);
  t.throws(() => applyDelta(base.subarray(1), ok), packError('bad-delta'), 'base size mismatch');
  t.throws(() => applyDelta(base, ok, 3), packError('too-large'), 'result above maxResultSize');
  t.throws(() => applyDelta(base, Buffer.from([0x80])), packError('bad-delta'), 'truncated header');
  t.throws(() => applyDelta(base, Buffer.concat([ok.subarray(0, 4), Buffer.from([0x91, 0x00])])), packError('bad-delta'), 'truncated copy');
  t.throws(() => applyDelta(base, Buffer.concat([ok.subarray(0, 4), Buffer.from([0x05, 0x61])])), packError('bad-delta'), 'truncated insert');
  t.throws(() => applyDelta(base, Buffer.concat([ok.subarray(0, 4), Buffer.from([0x00])])), packError('bad-delta'), 'reserved instruction');
  t.throws(() => applyDelta(base, encodeDelta(base.length, 4, [{ copy: [base.length - 2, 4] }])), packError('bad-delta'), 'copy out of range');
  t.throws(() => applyDelta(base, encodeDelta(base.length, 4, [{ copy: [0, 5] }])), packError('bad-delta'), 'writes past result');
  t.throws(() => applyDelta(base, encodeDelta(base.length, 4, [{ insert: Buffer.from('abcde') }])), packError('bad-delta'), 'inserts past result');
  t.throws(() => applyDelta(base, encodeDelta(base.length, 4, [{ copy: [0, 3] }])), packError('bad-delta'), 'result too short');
  t.throws(() => applyDelta(base, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), packError('bad-delta'), 'size overflow');
});
