// The write queue against an in-memory "remote" whose push checks the expected old tip, like receive-pack.
import t from 'tap';
import { decodeCommit, encodeCommit } from '../src/pack/commit.js';
import { hashObject } from '../src/pack/oid.js';
import { decodeTree } from '../src/pack/tree.js';
import { stagedFromBuffer } from '../src/store/staged-blob.js';
import { StoreError } from '../src/store/store.js';
import { lookupPath } from '../src/store/tree-edit.js';
import { WriteQueue, type PushObject, type Snapshot, type WriteOp } from '../src/store/write-queue.js';

class FakeRemote {
  objects = new Map<string, Buffer>();
  tip: string | null = null;
  pushes = 0;
  refused = 0;
  /** Called before each push is judged, to let a test move the branch under the writer. */
  beforePush: (() => Promise<void> | void) | undefined;

  async push(from: string | null, to: string, objects: PushObject[]): Promise<boolean> {
    this.pushes++;
    await this.beforePush?.();
    if (from !== this.tip) {
      this.refused++;
      return false;
    }
    for (const o of objects) {
      const data = Buffer.isBuffer(o.data) ? o.data : Buffer.concat(await collect(o.data()));
      t.equal(hashObject(o.type, data), o.oid, `pushed ${o.type} hashes to its id`);
      this.objects.set(o.oid, data);
    }
    this.tip = to;
    return true;
  }

  root(commit: string | null): string | null {
    return commit === null ? null : decodeCommit(this.objects.get(commit)!).tree;
  }

  async read(path: string): Promise<string | null> {
    const found = await lookupPath(async (oid) => this.objects.get(oid)!, this.root(this.tip), path.split('/'));
    return found.kind === 'file' ? this.objects.get(found.oid)!.toString() : null;
  }

  /** Files at the tip, path → content. */
  files(): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (tree: string, prefix: string): void => {
      for (const e of decodeTree(this.objects.get(tree)!)) {
        const name = prefix + e.name.toString();
        if (e.mode === '40000') walk(e.oid, `${name}/`);
        else out.set(name, this.objects.get(e.oid)!.toString());
      }
    };
    const root = this.root(this.tip);
    if (root !== null) walk(root, '');
    return out;
  }

  commitCount(): number {
    let n = 0;
    for (let c = this.tip; c !== null; c = decodeCommit(this.objects.get(c)!).parents[0] ?? null) n++;
    return n;
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return out;
}

function makeQueue(remote: FakeRemote, opts: { maxAttempts?: number; maxBatch?: number } = {}) {
  let known: string | null | undefined;
  const snapshots: boolean[] = [];
  const queue = new WriteQueue({
    async snapshot(refresh: boolean): Promise<Snapshot> {
      snapshots.push(refresh);
      if (refresh || known === undefined) known = remote.tip;
      return { tip: known, root: remote.root(known) };
    },
    loadTree: async (oid) => remote.objects.get(oid)!,
    makeCommit(tree, parent, op) {
      const who = { name: 't', email: 't@example.com', timestamp: 1700000000, timezone: '+0000' };
      const data = encodeCommit({ tree, parents: parent === null ? [] : [parent], author: who, committer: who, message: `${op.method} ${op.path}\n` });
      return { oid: hashObject('commit', data), data };
    },
    async push(from, to, objects) {
      const ok = await remote.push(from, to, objects);
      known = ok ? to : undefined;
      return ok;
    },
    maxAttempts: opts.maxAttempts ?? 5,
    deadlineMs: 10_000,
    maxBatch: opts.maxBatch ?? 64,
    backoffMs: () => 0,
  });
  return { queue, snapshots };
}

const op = (method: WriteOp['method'], path: string, body?: string): WriteOp => ({
  method,
  path,
  segments: path.split('/'),
  ...(body === undefined ? {} : { blob: stagedFromBuffer(Buffer.from(body)) }),
});

const kindOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof StoreError ? e.kind : `unexpected ${String(e)}`),
  );

t.test('writes made while a push is in flight go out together, one commit each, answered in order', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote);
  const first = queue.submit(op('POST', 'a.txt', 'one'));
  // These arrive while the first push is in flight.
  const rest = [
    queue.submit(op('POST', 'dir/b.txt', 'two')),
    queue.submit(op('POST', 'dir/b.txt', 'again')), // the write before it in the batch created it
    queue.submit(op('PUT', 'a.txt', 'uno')),
    queue.submit(op('DELETE', 'missing.txt')),
    queue.submit(op('PUT', 'dir/b.txt', 'dos')),
  ];
  t.equal(await kindOf(first), 'ok');
  t.same(await Promise.all(rest.map(kindOf)), ['ok', 'conflict', 'ok', 'not-found', 'ok']);
  t.equal(remote.pushes, 2, 'one push for the first write, one for the batch behind it');
  t.equal(queue.batches, 2);
  t.equal(remote.commitCount(), 4, 'one commit per successful write');
  t.same(Object.fromEntries(remote.files()), { 'a.txt': 'uno', 'dir/b.txt': 'dos' });
});

t.test('a push refused because the branch moved is retried from the new tip and re-checked', async (t) => {
  const remote = new FakeRemote();
  const other = makeQueue(remote).queue; // another writer on the same branch
  const { queue, snapshots } = makeQueue(remote);
  await queue.submit(op('POST', 'seed.txt', 'seed'));
  let moved = false;
  remote.beforePush = async () => {
    if (moved) return;
    moved = true;
    remote.beforePush = undefined;
    await other.submit(op('POST', 'x.txt', 'theirs'));
  };
  // Our queue still believes x.txt is absent; the retry must see it and answer 409.
  const results = await Promise.all([kindOf(queue.submit(op('POST', 'x.txt', 'mine'))), kindOf(queue.submit(op('POST', 'y.txt', 'mine')))]);
  t.same(results, ['conflict', 'ok']);
  t.equal(await remote.read('x.txt'), 'theirs', 'the other writer’s file is kept');
  t.equal(await remote.read('y.txt'), 'mine');
  t.equal(remote.refused, 1);
  t.ok(snapshots.includes(true), 'the retry refreshed the tip');
  const result = await queue.submit(op('PUT', 'y.txt', 'changed'));
  t.equal(result.retries, 0);
});

t.test('retries are bounded and reported', async (t) => {
  const remote = new FakeRemote();
  const other = makeQueue(remote).queue;
  const { queue } = makeQueue(remote, { maxAttempts: 3 });
  let n = 0;
  remote.beforePush = async () => {
    remote.beforePush = undefined; // the other writer's own push must not recurse
    await other.submit(op('POST', `theirs-${n++}.txt`, 'x'));
    remote.beforePush = hook;
  };
  const hook = remote.beforePush;
  const err = await queue.submit(op('POST', 'mine.txt', 'x')).catch((e: unknown) => e);
  t.type(err, StoreError);
  t.equal((err as StoreError).kind, 'unavailable');
  t.equal((err as StoreError).retries, 2);
  t.equal(await remote.read('mine.txt'), null, 'nothing of ours landed');
});

t.test('a write whose precondition fails confirms the tip before answering', async (t) => {
  const remote = new FakeRemote();
  const { queue, snapshots } = makeQueue(remote);
  await queue.submit(op('POST', 'a.txt', 'a'));
  // Someone else creates b.txt; our queue has not seen it.
  const other = makeQueue(remote).queue;
  await other.submit(op('POST', 'b.txt', 'b'));
  snapshots.length = 0;
  t.equal(await kindOf(queue.submit(op('PUT', 'b.txt', 'new'))), 'ok', 'the PUT sees the file after confirming the tip');
  t.same(snapshots, [false, true, true], 'stale view, confirmation, then a retry from the fresh tip');
  t.equal(await remote.read('b.txt'), 'new');
  t.equal(await kindOf(queue.submit(op('DELETE', 'nope.txt'))), 'not-found');
});

t.test('file/directory clashes', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote);
  await queue.submit(op('POST', 'a/b.txt', '1'));
  t.equal(await kindOf(queue.submit(op('POST', 'a', 'x'))), 'conflict', 'a directory is in the way');
  t.equal(await kindOf(queue.submit(op('POST', 'a/b.txt/c', 'x'))), 'conflict', 'a file is in the way');
  t.equal(await kindOf(queue.submit(op('PUT', 'a', 'x'))), 'not-found');
  t.equal(await kindOf(queue.submit(op('DELETE', 'a'))), 'not-found');
  t.equal(await kindOf(queue.submit(op('DELETE', 'a/b.txt'))), 'ok');
  t.same([...remote.files().keys()], [], 'the empty directory went with its last file');
});
