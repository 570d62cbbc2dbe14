// Tree edits checked against git: the trees we write must be the ones git itself would store.
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, gitText } from '../fixtures/repo.js';
import { hashObject } from '../src/pack/oid.js';
import { EMPTY_TREE_OID, editPath, lookupPath } from '../src/store/tree-edit.js';

async function setup(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'gitrest-tree-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await git(['init', '--quiet', '--bare', dir]);
  const blob = async (content: string) => gitText(['hash-object', '-w', '--stdin'], { cwd: dir, input: content });
  const mktree = async (lines: string[]) => gitText(['mktree'], { cwd: dir, input: lines.map((l) => `${l}\n`).join('') });
  const load = async (oid: string) => git(['cat-file', 'tree', oid], { cwd: dir });
  /** Writes our trees into the repository; git must compute the same ids. */
  const store = async (trees: { oid: string; data: Buffer }[]) => {
    for (const tree of trees) {
      t.equal(await gitText(['hash-object', '-w', '-t', 'tree', '--stdin'], { cwd: dir, input: tree.data }), tree.oid);
    }
  };
  const lsTree = async (tree: string) => gitText(['ls-tree', '-r', '-t', tree], { cwd: dir });
  return { dir, blob, mktree, load, store, lsTree };
}

t.test('creating a nested file in an empty tree', async (t) => {
  const r = await setup(t);
  const oid = await r.blob('hello');
  const edit = await editPath(r.load, null, ['a', 'b', 'c.txt'], { mode: '100644', oid });
  t.equal(edit.trees.length, 3, 'three new trees: a/b, a and the root');
  t.equal(edit.trees.at(-1)!.oid, edit.root, 'the root comes last');
  await r.store(edit.trees);
  const listing = await r.lsTree(edit.root);
  t.match(listing, new RegExp(`100644 blob ${oid}\ta/b/c.txt`));
  t.same((await lookupPath(r.load, edit.root, ['a', 'b', 'c.txt'])), { kind: 'file', mode: '100644', oid });
  t.same((await lookupPath(r.load, edit.root, ['a', 'b'])).kind, 'dir');
  t.same(await lookupPath(r.load, edit.root, ['a', 'b', 'c.txt', 'd']), { kind: 'absent', blockedBy: 'a/b/c.txt' });
  t.same(await lookupPath(r.load, edit.root, ['zz']), { kind: 'absent' });
});

t.test('every other entry is kept byte-for-byte: modes, symlinks, submodules, sort order', async (t) => {
  const r = await setup(t);
  const [x, y, link] = await Promise.all([r.blob('x'), r.blob('y'), r.blob('target')]);
  const sub = await r.mktree([`100644 blob ${x}\tinner.txt`]);
  const submodule = 'a'.repeat(40);
  const root = await r.mktree([
    `100755 blob ${x}\trun.sh`,
    `120000 blob ${link}\tlink`,
    `160000 commit ${submodule}\tvendor`,
    `040000 tree ${sub}\tdir`,
    `100644 blob ${y}\tdir.txt`, // sorts before "dir/" in git order
    `100644 blob ${y}\tcafé.txt`,
  ]);
  const before = await r.lsTree(root);
  const z = await r.blob('z');
  const edit = await editPath(r.load, root, ['dir', 'new.txt'], { mode: '100644', oid: z });
  await r.store(edit.trees);
  const after = await r.lsTree(edit.root);
  t.equal(after.split('\n').filter((l) => !before.includes(l)).length, 2, 'only the lines of dir and dir/new.txt are new');
  for (const line of before.split('\n')) {
    if (!line.endsWith('\tdir')) t.ok(after.includes(line), `kept: ${line}`);
  }
  t.same(await lookupPath(r.load, edit.root, ['vendor']), { kind: 'other', mode: '160000', oid: submodule });
  t.same(await lookupPath(r.load, edit.root, ['link']), { kind: 'file', mode: '120000', oid: link });
  // Removing the file we added gives back the original root id exactly.
  const undo = await editPath(r.load, edit.root, ['dir', 'new.txt'], null);
  await r.store(undo.trees);
  t.equal(undo.root, root);
});

t.test('deleting the last file of a directory removes the empty trees', async (t) => {
  const r = await setup(t);
  const a = await r.blob('a');
  const one = await editPath(r.load, null, ['keep.txt'], { mode: '100644', oid: a });
  await r.store(one.trees);
  const two = await editPath(r.load, one.root, ['x', 'y', 'z.txt'], { mode: '100644', oid: a });
  await r.store(two.trees);
  const three = await editPath(r.load, two.root, ['x', 'y', 'z.txt'], null);
  await r.store(three.trees);
  t.equal(three.root, one.root, 'x/ and x/y/ are gone');
  const empty = await editPath(r.load, three.root, ['keep.txt'], null);
  t.equal(empty.root, EMPTY_TREE_OID, 'deleting the only file leaves the empty tree');
  t.equal(hashObject('tree', Buffer.alloc(0)), EMPTY_TREE_OID);
});
