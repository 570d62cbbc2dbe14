// The object cache: least recently used first out, bounded in bytes with each entry's overhead counted,
// and never keeping a larger buffer alive through a small view of it.
import t from 'tap';
import { ObjectCache } from '../src/store/object-cache.js';

const oid = (n: number) => n.toString(16).padStart(40, '0');

t.test('evicts the least recently used entries to stay within its bound', async (t) => {
  const cache = new ObjectCache(3 * (1000 + 160), 2000);
  for (let i = 0; i < 3; i++) cache.set(oid(i), Buffer.alloc(1000, i));
  t.equal(cache.size, 3);
  t.ok(cache.get(oid(0)), 'a hit makes entry 0 the most recently used');
  cache.set(oid(3), Buffer.alloc(1000, 3));
  t.equal(cache.size, 3);
  t.notOk(cache.has(oid(1)), 'entry 1 was the least recently used');
  t.ok(cache.has(oid(0)) && cache.has(oid(2)) && cache.has(oid(3)));
  t.ok(cache.bytes <= cache.maxBytes);
  cache.set(oid(9), Buffer.alloc(2001));
  t.notOk(cache.has(oid(9)), 'an object over the per-object bound is not kept');
  cache.set(oid(3), Buffer.alloc(10));
  t.equal(cache.bytes, 2 * 1160 + 170, 'replacing an entry accounts for the old one');
});

t.test('tiny objects cannot grow it past its bound through per-entry overhead', async (t) => {
  const cache = new ObjectCache(100_000);
  for (let i = 0; i < 10_000; i++) cache.set(oid(i), Buffer.alloc(1));
  t.ok(cache.size <= 100_000 / 161, `${cache.size} entries`);
  t.ok(cache.bytes <= 100_000);
});

t.test('a view into a larger buffer is stored as its own copy', async (t) => {
  const cache = new ObjectCache(1 << 20);
  const big = Buffer.alloc(64 * 1024, 7);
  cache.set(oid(1), big.subarray(100, 200));
  const kept = cache.get(oid(1))!;
  t.equal(kept.length, 100);
  t.equal(kept.buffer.byteLength, 100, 'no reference to the 64 KiB buffer');
  t.ok(kept.equals(Buffer.alloc(100, 7)));
  const own = Buffer.allocUnsafeSlow(50);
  cache.set(oid(2), own);
  t.equal(cache.get(oid(2)), own, 'a buffer that owns its memory is kept as is');
});
