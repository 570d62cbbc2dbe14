// The write queue against an in-memory "remote" whose push checks the expected old tip, like receive-pack.
import t from 'tap';
import { decodeCommit, encodeCommit } from '../src/pack/commit.js';
import { hashObject } from '../src/pack/oid.js';
import { decodeTree } from '../src/pack/tree.js';
import { stagedFromBuffer } from '../src/store/staged-blob.js';
import { StoreError } from '../src/store/store.js';
import { HttpStatusError, ProtocolError, TransportError } from '../src/protocol/errors.js';
import { PackError } from '../src/pack/errors.js';
import { isTransient, pushMayHaveLanded, retryDelayMs, RetryBudget } from '../src/store/retry.js';
import { lookupPath } from '../src/store/tree-edit.js';
import { WriteQueue, type PushInDoubt } from '../src/store/write-queue.js';
import type { PathEdit, PushObject, Snapshot, WriteOp } from '../src/store/write-plan.js';

/**
 * What goes wrong with one push: 'lose-answer' applies it and then fails like a lost answer; 'fail' throws
 * without applying it; 'hold' throws without applying it, and applies it when the next push arrives (a push
 * that lands late); 'refuse' is a definitive refusal read from the host's report.
 */
type PushFault = { kind: 'lose-answer' | 'fail' | 'hold'; error: unknown } | { kind: 'refuse' };

const lostAnswer = () => new TransportError('connection', 'other side closed');

class FakeRemote {
  objects = new Map<string, Buffer>();
  tip: string | null = null;
  pushes = 0;
  refused = 0;
  readBacks = 0;
  /** Called before each push is judged, to let a test move the branch under the writer. */
  beforePush: (() => Promise<void> | void) | undefined;
  /** Faults of the next pushes, in order. */
  pushFaults: PushFault[] = [];
  /** Makes reading the branch back fail (e.g. the host is down). */
  readBackFault: (() => unknown) | undefined;
  held: (() => Promise<void>) | undefined;

  async push(from: string | null, to: string, objects: PushObject[]): Promise<boolean> {
    this.pushes++;
    await this.beforePush?.();
    const held = this.held;
    this.held = undefined;
    await held?.();
    const fault = this.pushFaults.shift();
    if (fault?.kind === 'refuse') throw new StoreError('upstream', 'the git host refused the push', 'unpack error');
    if (fault?.kind === 'fail') throw fault.error;
    if (fault?.kind === 'hold') {
      this.held = async () => void (await this.apply(from, to, objects));
      throw fault.error;
    }
    const applied = await this.apply(from, to, objects);
    if (fault?.kind === 'lose-answer') throw fault.error;
    return applied;
  }

  async apply(from: string | null, to: string, objects: PushObject[]): Promise<boolean> {
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

  /** Like GitStore's: the tip or its first-parent ancestors down to the oldest base, at most `depth` commits. */
  async findLanded(pushes: readonly PushInDoubt[], depth: number): Promise<string | null> {
    this.readBacks++;
    const err = this.readBackFault?.();
    if (err !== undefined) throw err;
    const heads = new Set(pushes.map((p) => p.head));
    let c = this.tip;
    for (let seen = 0; c !== null; seen++) {
      if (heads.has(c)) return c;
      if (c === pushes[0]!.base) return null;
      if (seen >= depth) throw new StoreError('unavailable', 'cannot tell whether the write was applied');
      c = decodeCommit(this.objects.get(c)!).parents[0] ?? null;
    }
    return null;
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

function makeQueue(remote: FakeRemote,
  opts: { maxAttempts?: number; maxBatch?: number; landedDepth?: number; deadlineMs?: number } = {}) {
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
      const data = encodeCommit({ tree, parents: parent === null ? [] : [parent], author: who, committer: who, message: `${op.message}\n` });
      return { oid: hashObject('commit', data), data };
    },
    async push(from, to, objects) {
      known = undefined;
      const ok = await remote.push(from, to, objects);
      if (ok) known = to;
      return ok;
    },
    async findLanded(pushes) {
      const head = await remote.findLanded(pushes, opts.landedDepth ?? 20);
      known = remote.tip;
      return head;
    },
    maxAttempts: opts.maxAttempts ?? 5,
    deadlineMs: opts.deadlineMs ?? 10_000,
    maxBatch: opts.maxBatch ?? 64,
    backoffMs: () => 0,
    raceBackoffMs: () => 1,
  });
  return { queue, snapshots };
}

const op = (method: PathEdit['method'], path: string, body?: string): WriteOp => ({
  edits: [{ method, path, segments: path.split('/'), ...(body === undefined ? {} : { blob: stagedFromBuffer(Buffer.from(body)) }) }],
  message: `${method} ${path}`,
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

t.test('writes that arrive while a batch retries a lost race join it: the next push carries them all', async (t) => {
  const remote = new FakeRemote();
  const other = makeQueue(remote).queue;
  const { queue } = makeQueue(remote);
  await queue.submit(op('POST', 'seed.txt', 'seed'));
  const late: Array<Promise<unknown>> = [];
  let moved = false;
  remote.beforePush = async () => {
    if (moved) return;
    moved = true;
    remote.beforePush = undefined;
    await other.submit(op('POST', 'theirs.txt', 'x'));
    remote.beforePush = hook;
    // Submitted while our push is out and about to be refused.
    late.push(queue.submit(op('POST', 'late1.txt', '1')), queue.submit(op('POST', 'late2.txt', '2')));
  };
  const hook = remote.beforePush;
  const pushes = remote.pushes;
  const first = await queue.submit(op('POST', 'mine.txt', 'm'));
  t.equal(first.retries, 1);
  t.same(await Promise.all(late.map(kindOf)), ['ok', 'ok']);
  t.equal(remote.pushes - pushes, 3, 'the refused push, the other writer\'s, and one push for all three of ours');
  t.same([...remote.files().keys()].sort(), ['late1.txt', 'late2.txt', 'mine.txt', 'seed.txt', 'theirs.txt']);
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

t.test('lost races are bounded by the deadline, not by the attempts, and reported', async (t) => {
  const remote = new FakeRemote();
  const other = makeQueue(remote).queue;
  const { queue } = makeQueue(remote, { maxAttempts: 3, deadlineMs: 200 });
  let n = 0;
  let moves = Infinity;
  remote.beforePush = async () => {
    if (n >= moves) return;
    remote.beforePush = undefined; // the other writer's own push must not recurse
    await other.submit(op('POST', `theirs-${n++}.txt`, 'x'));
    remote.beforePush = hook;
  };
  const hook = remote.beforePush;
  const err = await queue.submit(op('POST', 'mine.txt', 'x')).catch((e: unknown) => e);
  t.type(err, StoreError);
  t.equal((err as StoreError).kind, 'unavailable');
  t.match((err as StoreError).detail, /write deadline of 200 ms/);
  t.ok((err as StoreError).retries > 2, `more retries than attempts allow failures (${(err as StoreError).retries})`);
  t.equal(await remote.read('mine.txt'), null, 'nothing of ours landed');

  // The branch moves under the write 6 times, twice the attempts a failing host gets: the write still lands.
  moves = n + 6;
  const { queue: patient } = makeQueue(remote, { maxAttempts: 3 });
  const result = await patient.submit(op('POST', 'late.txt', 'x'));
  t.equal(result.retries, 6);
  t.equal((await remote.read('late.txt'))?.toString(), 'x');
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
  t.same(snapshots, [false, true], 'a stale view, then the fresh tip it plans again on (no second read)');
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

t.test('an answer lost after the push landed: acknowledged once, never pushed again', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote);
  await queue.submit(op('POST', 'a.txt', 'a'));
  remote.pushFaults = [{ kind: 'lose-answer', error: lostAnswer() }];
  const result = await queue.submit(op('POST', 'b.txt', 'b'));
  t.equal(result.commit, remote.tip, 'answered with the commit that landed');
  t.equal(remote.pushes, 2, 'one push per write');
  t.equal(remote.readBacks, 1, 'the branch was read back once');
  t.equal(remote.commitCount(), 2, 'exactly one commit for the write');
  t.same(Object.fromEntries(remote.files()), { 'a.txt': 'a', 'b.txt': 'b' });
});

t.test('a push that failed without landing is retried once the read-back shows it absent', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote);
  for (const error of [lostAnswer(), new TransportError('timeout', 'headers timeout'), new HttpStatusError(502, 'HTTP 502')]) {
    remote.pushFaults = [{ kind: 'fail', error }];
    const before = remote.pushes;
    const result = await queue.submit(op('POST', `f-${before}.txt`, 'x'));
    t.equal(result.retries, 1, `${(error as Error).message}: one retry`);
    t.equal(remote.pushes - before, 2, 'pushed twice: the first never landed');
  }
  t.equal(remote.readBacks, 3);
  t.equal(remote.commitCount(), 3, 'one commit per write');
});

t.test('a push that lands late is found after the retry loses the race, and answered from it', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote);
  await queue.submit(op('POST', 'seed.txt', 's'));
  remote.pushFaults = [{ kind: 'hold', error: new TransportError('timeout', 'headers timeout') }];
  const [put, post] = await Promise.all([queue.submit(op('PUT', 'seed.txt', 'new')), queue.submit(op('POST', 'c.txt', 'c'))]);
  t.equal(remote.refused, 1, 'the retry was refused: the held push had landed first');
  t.equal(post.commit, remote.tip, 'answered from the push that landed');
  t.not(put.commit, post.commit);
  t.equal(remote.commitCount(), 3, 'no write was applied twice');
  t.same(Object.fromEntries(remote.files()), { 'seed.txt': 'new', 'c.txt': 'c' });
});

t.test('when the branch cannot be read back the write is in doubt: not acknowledged, and the queue goes on', async (t) => {
  const remote = new FakeRemote();
  const { queue, snapshots } = makeQueue(remote, { maxAttempts: 3 });
  await queue.submit(op('POST', 'a.txt', 'a'));
  remote.pushFaults = [{ kind: 'lose-answer', error: new TransportError('timeout', 'headers timeout') }];
  remote.readBackFault = () => new TransportError('connection', 'connect ECONNREFUSED');
  const err = await queue.submit(op('POST', 'b.txt', 'b')).catch((e: unknown) => e);
  t.type(err, StoreError);
  t.match(err, { kind: 'unavailable', message: /did not confirm the write/, detail: /may or may not have been applied/, retries: 2 });
  t.equal(remote.pushes, 2, 'never pushed again while in doubt');
  t.equal(remote.readBacks, 3, 'read back within the attempts');
  remote.readBackFault = undefined;
  snapshots.length = 0;
  await queue.submit(op('POST', 'c.txt', 'c'));
  t.equal(snapshots[0], false);
  t.same(Object.fromEntries(remote.files()), { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' }, 'the later batch built on the remote tip');
  t.equal(remote.commitCount(), 3);

  // Beyond the walk's depth nobody can tell either.
  remote.pushFaults = [{ kind: 'lose-answer', error: lostAnswer() }];
  remote.beforePush = undefined;
  const other = makeQueue(remote).queue;
  const { queue: shallow } = makeQueue(remote, { landedDepth: 2 });
  const late = shallow.submit(op('POST', 'd.txt', 'd'));
  remote.readBackFault = () => undefined;
  const origFind = remote.findLanded.bind(remote);
  remote.findLanded = async (pushes, depth) => {
    for (let i = 0; i < 3; i++) await other.submit(op('POST', `x${i}.txt`, 'x'));
    remote.findLanded = origFind;
    return origFind(pushes, depth);
  };
  t.match(await late.catch((e: unknown) => e), { kind: 'unavailable', message: /did not confirm the write/ });
});

t.test('a definitive refusal is not retried; transient failures are, then reported with their cause', async (t) => {
  const remote = new FakeRemote();
  const { queue } = makeQueue(remote, { maxAttempts: 3 });
  remote.pushFaults = [{ kind: 'refuse' }];
  t.match(await queue.submit(op('POST', 'a.txt', 'a')).catch((e: unknown) => e), { kind: 'upstream', retries: 0 });
  t.equal(remote.pushes, 1);
  t.equal(remote.readBacks, 0, 'a clear refusal needs no read-back');
  const unavailable = () => ({ kind: 'fail' as const, error: new HttpStatusError(503, 'HTTP 503 from POST git-receive-pack') });
  remote.pushFaults = [unavailable(), unavailable(), unavailable()];
  const err = await queue.submit(op('POST', 'a.txt', 'a')).catch((e: unknown) => e);
  t.match(err, { kind: 'unavailable', message: 'the git host is unavailable', retries: 2 });
  t.equal(remote.pushes, 4);
  t.equal(remote.readBacks, 3, 'every 5xx push was checked before the next one');
  t.equal(remote.tip, null, 'nothing landed');
  t.equal((await queue.submit(op('POST', 'a.txt', 'a'))).retries, 0, 'the next write is not poisoned');
});

t.test('retry policy: what is transient, which pushes may have landed, Retry-After', async (t) => {
  t.ok(isTransient(new TransportError('connection', 'reset')));
  t.ok(isTransient(new TransportError('timeout', 'slow')));
  t.notOk(isTransient(new TransportError('aborted', 'deadline')));
  for (const s of [408, 429, 500, 502, 503, 504]) t.ok(isTransient(new HttpStatusError(s, `HTTP ${s}`)), `${s}`);
  for (const s of [400, 401, 403, 404, 413]) t.notOk(isTransient(new HttpStatusError(s, `HTTP ${s}`)), `${s}`);
  t.ok(isTransient(new PackError('bad-trailer', 'checksum')));
  t.notOk(isTransient(new PackError('too-large', 'limit')));
  t.ok(isTransient(new ProtocolError('unexpected-eof', 'cut')));
  t.notOk(isTransient(new ProtocolError('too-large', 'limit')));
  t.notOk(isTransient(new StoreError('not-found', 'x')));

  const refused = new TransportError('connection', 'connect ECONNREFUSED', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) });
  t.notOk(pushMayHaveLanded(refused), 'never connected');
  t.ok(pushMayHaveLanded(new TransportError('connection', 'other side closed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) })));
  t.ok(pushMayHaveLanded(new TransportError('timeout', 'headers timeout')));
  t.ok(pushMayHaveLanded(new HttpStatusError(502, 'HTTP 502')));
  t.notOk(pushMayHaveLanded(new HttpStatusError(429, 'HTTP 429')));
  t.notOk(pushMayHaveLanded(new StoreError('upstream', 'refused')));
  t.ok(pushMayHaveLanded(new Error('anything else')));

  const backoffMs = () => 10;
  t.equal(retryDelayMs(new HttpStatusError(503, 'x'), 1, { backoffMs }), 10, 'no Retry-After: the backoff');
  t.equal(retryDelayMs(new HttpStatusError(429, 'x', 2000), 1, { backoffMs }), 2000, 'Retry-After honored');
  t.equal(retryDelayMs(new HttpStatusError(429, 'x', 0), 1, { backoffMs }), 10, 'never shorter than the backoff');
  t.equal(retryDelayMs(new HttpStatusError(429, 'x', 3_600_000), 1, { backoffMs }), 5000, 'capped');
  t.equal(retryDelayMs(new HttpStatusError(429, 'x', 3_600_000), 1, { backoffMs, maxRetryAfterMs: 700 }), 700);

  const budget = new RetryBudget({ maxAttempts: 3, deadline: Date.now() + 2_000, backoffMs: () => 0 });
  t.equal(await budget.next(new HttpStatusError(429, 'x', 120_000)), false, 'a wait past the deadline is not started');
  t.equal(await budget.next(lostAnswer()), true);
  t.equal(await budget.next(lostAnswer()), true);
  t.equal(await budget.next(lostAnswer()), false, 'attempts are bounded');
  t.equal(budget.retries, 2);
});
