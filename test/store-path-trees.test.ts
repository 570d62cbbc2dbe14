// fetchPathTrees: the trees on a batch's directories, one request per level for those not cached.
import t from 'tap';
import { hashObject } from '../src/pack/oid.js';
import { BLOB_MODE, encodeTree, TREE_MODE } from '../src/pack/tree.js';
import { fetchPathTrees } from '../src/store/path-trees.js';

const blob = hashObject('blob', Buffer.from('x'));
const tree = (entries: Array<[string, string, string]>) => {
  const data = encodeTree(entries.map(([mode, name, oid]) => ({ mode, name: Buffer.from(name), oid })));
  return { oid: hashObject('tree', data), data };
};

t.test('one request per level, only for what is not cached, only along the paths', async (t) => {
  const deep = tree([[BLOB_MODE, 'f', blob]]);
  const sub = tree([[TREE_MODE, 'deep', deep.oid], [BLOB_MODE, 'g', blob]]);
  const other = tree([[BLOB_MODE, 'h', blob]]);
  const cachedDir = tree([[BLOB_MODE, 'i', blob]]);
  const root = tree([[TREE_MODE, 'sub', sub.oid], [TREE_MODE, 'other', other.oid], [TREE_MODE, 'kept', cachedDir.oid], [BLOB_MODE, 'file', blob]]);
  const remote = new Map([root, sub, deep, other, cachedDir].map((x) => [x.oid, x.data]));
  const cache = new Map([[root.oid, root.data], [cachedDir.oid, cachedDir.data]]);
  const requests: string[][] = [];
  const got = await fetchPathTrees({
    cached: (oid) => cache.get(oid),
    fetchTrees: async (oids) => {
      requests.push([...oids].sort());
      return new Map(oids.map((o) => [o, remote.get(o)!]));
    },
  }, root.oid, [['sub', 'deep'], ['kept'], ['file', 'x'], ['absent'], [], ['sub', 'g']]);
  t.same(requests, [[sub.oid], [deep.oid]], 'level 1: sub (kept is cached; file is a blob; absent is absent), level 2: deep');
  t.same([...got.keys()].sort(), [sub.oid, deep.oid].sort());
  t.notOk(requests.flat().includes(other.oid), 'a directory off the paths is not fetched');
});

t.test('no root, or a tree the host did not send: nothing more to look at', async (t) => {
  const source = { cached: () => undefined, fetchTrees: async () => new Map<string, Buffer>() };
  t.same(await fetchPathTrees(source, null, [['a']]), new Map());
  t.same(await fetchPathTrees(source, 'ab'.repeat(20), [['a']]), new Map());
});
