// diffTrees on trees built in memory: what changed, and which trees it had to load (only differing ones,
// only those a prefix can reach, one batch per level for all pairs).
import t from 'tap';
import { hashObject } from '../src/pack/oid.js';
import { BLOB_MODE, TREE_MODE, encodeTree, type TreeEntry } from '../src/pack/tree.js';
import { diffTrees } from '../src/store/tree-diff.js';

const objects = new Map<string, Buffer>();
const blob = (text: string): string => hashObject('blob', Buffer.from(text));

/** A tree from a nested description: a string is a file's content, an object a directory. */
function tree(spec: Record<string, string | Record<string, unknown>>): string {
  const entries: TreeEntry[] = Object.entries(spec).map(([name, v]) => typeof v === 'string'
    ? { mode: BLOB_MODE, name: Buffer.from(name), oid: blob(v) }
    : { mode: TREE_MODE, name: Buffer.from(name), oid: tree(v as Record<string, string>) });
  const data = encodeTree(entries);
  const oid = hashObject('tree', data);
  objects.set(oid, data);
  return oid;
}

function loader() {
  const batches: string[][] = [];
  const load = async (oids: string[]) => {
    batches.push(oids);
    return new Map(oids.map((o) => [o, objects.get(o)!]));
  };
  return { batches, load };
}

t.test('creates, modifies, deletes, a file that became a directory; unchanged subtrees never loaded', async (t) => {
  const same = { deep: { x: 'x' } };
  const before = tree({ a: '1', b: '2', f: 'file', keep: same, d: { e: '3' } });
  const after = tree({ a: '1', b: '2b', f: { inner: 'i' }, keep: same, d: { e: '3', n: 'new' } });
  const { batches, load } = loader();
  const [diff] = await diffTrees([{ before, after }], load);
  t.same(diff!.changes, [
    { path: 'b', change: 'modify', etag: blob('2b') },
    { path: 'd/n', change: 'create', etag: blob('new') },
    { path: 'f', change: 'delete', etag: null },
    { path: 'f/inner', change: 'create', etag: blob('i') },
  ]);
  t.equal(diff!.truncated, false);
  t.equal(batches.length, 2, 'one batch per level');
  t.notOk(batches.flat().includes(tree(same)), 'the unchanged subtree is not loaded');
});

t.test('a prefix prunes what it cannot reach; many pairs share each level’s batch', async (t) => {
  const r1 = tree({ users: { a: '1' }, other: { b: '1' } });
  const r2 = tree({ users: { a: '2' }, other: { b: '2' } });
  const r3 = tree({ users: { a: '2', c: '3' }, other: { b: '3' } });
  const { batches, load } = loader();
  const diffs = await diffTrees([{ before: null, after: r1 }, { before: r1, after: r2 }, { before: r2, after: r3 }], load, 'users/');
  t.same(diffs.map((d) => d.changes.map((c) => `${c.change} ${c.path}`)), [['create users/a'], ['modify users/a'], ['create users/c']]);
  t.equal(batches.length, 2, 'two levels, two requests, for three commits');
  t.notOk(batches.flat().includes(tree({ b: '2' })), 'other/ is never loaded');
  const capped = await diffTrees([{ before: null, after: r3 }], load, '', 2);
  t.equal(capped[0]!.changes.length, 2);
  t.equal(capped[0]!.truncated, true, 'more than the bound: truncated');
  t.same((await diffTrees([{ before: r1, after: r1 }], load))[0]!.changes, [], 'the same tree: nothing, nothing loaded');
});
