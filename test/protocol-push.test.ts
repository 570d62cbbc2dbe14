import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { cloneRepo, fsck, git, readTreeFiles, revParse } from '../fixtures/repo.js';
import { encodeCommit } from '../src/pack/commit.js';
import type { ObjectType } from '../src/pack/object.js';
import { hashObject } from '../src/pack/oid.js';
import type { PackObject } from '../src/pack/pack-reader.js';
import { writePack } from '../src/pack/pack-writer.js';
import { decodeTree, encodeTree, type TreeEntry } from '../src/pack/tree.js';
import { Remote } from '../src/protocol/remote.js';

const ZERO = '0'.repeat(40);
const who = { name: 'Pusher', email: 'pusher@test', timestamp: 1_700_000_000, timezone: '+0000' };

interface Obj { type: ObjectType; data: Buffer; oid: string }
const obj = (type: ObjectType, data: Buffer): Obj => ({ type, data, oid: hashObject(type, data) });
const entry = (mode: string, name: string, oid: string): TreeEntry => ({ mode, name: Buffer.from(name), oid });

/** A commit adding `a/b/c.txt` (with `content`) to `baseEntries`; returns the commit and its new objects. */
function commitNested(content: string, baseEntries: TreeEntry[], parents: string[], message: string) {
  const blob = obj('blob', Buffer.from(content));
  const b = obj('tree', encodeTree([entry('100644', 'c.txt', blob.oid)]));
  const a = obj('tree', encodeTree([entry('40000', 'b', b.oid)]));
  const root = obj('tree', encodeTree([...baseEntries.filter((e) => e.name.toString() !== 'a'), entry('40000', 'a', a.oid)]));
  const commit = obj('commit', encodeCommit({ tree: root.oid, parents, author: who, committer: who, message }));
  return { commit: commit.oid, objects: [blob, b, a, root, commit] };
}

function pack(objects: Obj[]): AsyncIterable<Uint8Array> {
  return writePack(objects.length, objects.map((o) => ({ type: o.type, size: o.data.length, data: o.data })));
}

async function collect(gen: AsyncIterable<PackObject>): Promise<PackObject[]> {
  const out: PackObject[] = [];
  for await (const o of gen) out.push(o);
  return out;
}

/** Reads the root tree of `commit` over the wire, like the store does. */
async function remoteRootEntries(remote: Remote, commit: string): Promise<TreeEntry[]> {
  const [c] = await collect(remote.fetch({ wants: [commit], filter: 'tree:0' }));
  const treeId = /^tree ([0-9a-f]{40})/.exec(c!.data.toString())![1]!;
  const [tree] = await collect(remote.fetch({ wants: [treeId], filter: 'tree:0' }));
  return decodeTree(tree!.data);
}

t.test('push into an empty repository creates the branch', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('empty');
  const remote = new Remote({ url: repo.url });
  t.teardown(() => remote.close());
  const { commit, objects } = commitNested('nested content\n', [], [], 'first commit\n');

  const result = await remote.push([{ ref: 'refs/heads/main', oldOid: ZERO, newOid: commit }], pack(objects));
  t.same(result.refs, [{ ref: 'refs/heads/main', status: 'ok' }]);
  t.equal(result.ok, true);
  t.equal(result.unpack, 'ok');

  t.equal(await revParse(repo.dir, 'refs/heads/main'), commit);
  await fsck(repo.dir);
  t.equal((await git(['show', 'main:a/b/c.txt'], { cwd: repo.dir })).toString(), 'nested content\n');
  const clone = await cloneRepo(repo.dir);
  t.same([...(await readTreeFiles(clone, 'HEAD'))].map(([p, c]) => [p, c.toString()]), [['a/b/c.txt', 'nested content\n']]);
});

t.test('push into a seeded repository, stale pushes, deletes and round trips', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('seeded', {
    seed: [[{ path: 'README', content: 'readme\n' }, { path: 'a/old.txt', content: 'old\n' }]],
  });
  const remote = new Remote({ url: repo.url });
  t.teardown(() => remote.close());
  server.resetCounts();

  const tip = (await remote.lsRefs(['refs/heads/'])).refs.get('refs/heads/main')!;
  t.equal(tip, await revParse(repo.dir, 'main'));
  const base = await remoteRootEntries(remote, tip);
  t.same(base.map((e) => e.name.toString()).sort(), ['README', 'a']);

  // First push: GET info/refs?service=git-receive-pack + POST.
  let before = server.counts('seeded');
  const first = commitNested('c1\n', base, [tip], 'add a/b/c.txt\n');
  const r1 = await remote.push([{ ref: 'refs/heads/main', oldOid: tip, newOid: first.commit }], pack(first.objects));
  t.equal(r1.ok, true, 'first push accepted');
  let after = server.counts('seeded');
  t.equal(after['info-refs'] - before['info-refs'], 1, 'first push: one info/refs');
  t.equal(after['receive-pack'] - before['receive-pack'], 1, 'first push: one receive-pack');
  t.equal(after.total - before.total, 2, 'first push = 2 requests');

  await fsck(repo.dir);
  t.equal((await git(['show', 'main:a/b/c.txt'], { cwd: repo.dir })).toString(), 'c1\n');
  const files = await readTreeFiles(await cloneRepo(repo.dir), 'HEAD');
  t.same([...files.keys()].sort(), ['README', 'a/b/c.txt'], 'the new a/ tree replaced the old one');

  // Second push: straight to POST git-receive-pack.
  before = server.counts('seeded');
  const second = commitNested('c2\n', base, [first.commit], 'second\n');
  const r2 = await remote.push([{ ref: 'refs/heads/main', oldOid: first.commit, newOid: second.commit }], pack(second.objects));
  t.equal(r2.ok, true, 'second push accepted');
  after = server.counts('seeded');
  t.same(
    { infoRefs: after['info-refs'] - before['info-refs'], receive: after['receive-pack'] - before['receive-pack'], total: after.total - before.total },
    { infoRefs: 0, receive: 1, total: 1 },
    'second push = 1 request',
  );

  // A push whose old id is stale (the branch moved on) is ref-moved and changes nothing.
  const stale = commitNested('lost\n', base, [first.commit], 'racing\n');
  const headBefore = await revParse(repo.dir, 'refs/heads/main');
  const r3 = await remote.push([{ ref: 'refs/heads/main', oldOid: first.commit, newOid: stale.commit }], pack(stale.objects));
  t.equal(r3.ok, false);
  t.equal(r3.unpack, 'ok');
  t.equal(r3.refs[0]!.status, 'ref-moved', `stale old id is ref-moved (${JSON.stringify(r3.refs[0])})`);
  t.match(r3.refs[0], { message: /cannot lock ref 'refs\/heads\/main'/ }, 'with the server detail');
  t.equal(await revParse(repo.dir, 'refs/heads/main'), headBefore, 'rev-parse before == after');
  t.equal(headBefore, second.commit);
  await fsck(repo.dir);

  // Creating a ref that already exists (old = zero id) is ref-moved as well.
  const r4 = await remote.push([{ ref: 'refs/heads/main', oldOid: ZERO, newOid: stale.commit }], pack(stale.objects));
  t.equal(r4.refs[0]!.status, 'ref-moved', `create over an existing ref (${JSON.stringify(r4.refs[0])})`);
  t.equal(await revParse(repo.dir, 'refs/heads/main'), second.commit);

  // A branch at an existing commit: no new objects, an empty pack goes along.
  const r5 = await remote.push([{ ref: 'refs/heads/copy', oldOid: ZERO, newOid: first.commit }], null);
  t.equal(r5.ok, true, 'branch created with an empty pack');
  t.equal(await revParse(repo.dir, 'refs/heads/copy'), first.commit);

  // A delete sends no pack at all.
  const r6 = await remote.push([{ ref: 'refs/heads/copy', oldOid: first.commit, newOid: ZERO }], null);
  t.equal(r6.ok, true, 'delete accepted');
  t.equal(await revParse(repo.dir, 'refs/heads/copy'), null);

  // Atomic: one stale ref fails the whole push.
  const r7 = await remote.push(
    [
      { ref: 'refs/heads/side', oldOid: ZERO, newOid: first.commit },
      { ref: 'refs/heads/main', oldOid: first.commit, newOid: stale.commit },
    ],
    pack(stale.objects),
    { atomic: true },
  );
  t.equal(r7.ok, false, JSON.stringify(r7));
  t.equal(r7.refs.find((r) => r.ref === 'refs/heads/main')!.status, 'ref-moved');
  t.equal(r7.refs.find((r) => r.ref === 'refs/heads/side')!.status, 'error', 'the innocent ref fails with the transaction');
  t.equal(await revParse(repo.dir, 'refs/heads/side'), null, 'atomic: nothing was updated');
  t.equal(await revParse(repo.dir, 'refs/heads/main'), second.commit);
});

t.test('concurrent pushes from the same old id: exactly one wins (the check happens under the lock)', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('race', { seed: [[{ path: 'f', content: 'f\n' }]] });
  const remotes = [new Remote({ url: repo.url }), new Remote({ url: repo.url })];
  t.teardown(() => Promise.all(remotes.map((r) => r.close())));
  await Promise.all(remotes.map((r) => r.advertiseReceivePack()));
  for (let round = 0; round < 5; round++) {
    const tip = (await revParse(repo.dir, 'main'))!;
    const candidates = remotes.map((_, i) => commitNested(`round ${round} writer ${i}\n`, [], [tip], `r${round} w${i}\n`));
    const results = await Promise.all(
      remotes.map((r, i) => r.push([{ ref: 'refs/heads/main', oldOid: tip, newOid: candidates[i]!.commit }], pack(candidates[i]!.objects))),
    );
    const winners = results.flatMap((res, i) => (res.ok ? [i] : []));
    t.equal(winners.length, 1, `round ${round}: one winner`);
    const loser = results.find((res) => !res.ok)!;
    t.equal(loser.refs[0]!.status, 'ref-moved', `round ${round}: the other is ref-moved`);
    t.equal(await revParse(repo.dir, 'main'), candidates[winners[0]!]!.commit, `round ${round}: the winner's commit is the tip`);
  }
  await fsck(repo.dir);
});

t.test('rejections that are not races are errors with the server text', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('hooked', { seed: [[{ path: 'f', content: 'f\n' }]] });
  const hook = join(repo.dir, 'hooks', 'pre-receive');
  await writeFile(hook, '#!/bin/sh\necho "policy: pushes are closed today" >&2\nexit 1\n');
  await chmod(hook, 0o755);
  const remote = new Remote({ url: repo.url });
  t.teardown(() => remote.close());
  const tip = (await revParse(repo.dir, 'main'))!;
  const c = commitNested('x\n', [], [tip], 'x\n');
  const res = await remote.push([{ ref: 'refs/heads/main', oldOid: tip, newOid: c.commit }], pack(c.objects));
  t.equal(res.ok, false);
  t.same(res.refs, [{ ref: 'refs/heads/main', status: 'error', message: 'pre-receive hook declined' }]);
  t.ok(res.messages.some((m) => m.includes('policy: pushes are closed today')), 'hook output arrives on the progress channel');
  t.equal(await revParse(repo.dir, 'main'), tip);

  // A corrupt pack: the unpack status carries the failure.
  const bad = (async function* () {
    yield Buffer.from('PACK\0\0\0\x02\0\0\0\x01garbage-that-is-not-zlib');
  })();
  const res2 = await remote.push([{ ref: 'refs/heads/main', oldOid: tip, newOid: c.commit }], bad);
  t.equal(res2.ok, false);
  t.not(res2.unpack, 'ok', `unpack failure reported: ${res2.unpack}`);
  t.equal(res2.refs[0]!.status, 'error');
  t.equal(await revParse(repo.dir, 'main'), tip);
});
