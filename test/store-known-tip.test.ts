// The known tip never goes back: a lookup's answer is dropped when something newer was learned or made
// after the lookup was sent. The class alone, then a read's lookup answered after a write's push, through
// the fault proxy in front of the real git server.
import t, { type Test } from 'tap';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.js';
import { startFixtureServer, type FixtureServer } from '../fixtures/git-server.js';
import { fsck, readTreeFiles, revParse } from '../fixtures/repo.js';
import { GitStore } from '../src/store/git-store.js';
import { KnownTip } from '../src/store/known-tip.js';
import type { BodySource, ReadResult } from '../src/store/store.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

t.test('KnownTip', async (t) => {
  t.test('unknown at first; an answer is taken', async (t) => {
    const tip = new KnownTip();
    t.equal(tip.value, undefined);
    t.ok(tip.answer(tip.ask(), A));
    t.equal(tip.value, A);
    t.ok(tip.answer(tip.ask(), null), 'a branch that is gone is news too');
    t.equal(tip.value, null);
  });

  t.test('an answer to a lookup sent before a push was accepted is dropped', async (t) => {
    const tip = new KnownTip();
    tip.answer(tip.ask(), A);
    const before = tip.ask();
    tip.made(B);
    t.notOk(tip.answer(before, A));
    t.equal(tip.value, B);
    const after = tip.ask();
    t.ok(tip.answer(after, C), 'a lookup sent after the push may tell of a newer tip');
    t.equal(tip.value, C);
  });

  t.test('answers arriving out of order: the later-sent lookup wins', async (t) => {
    const tip = new KnownTip();
    const first = tip.ask();
    const second = tip.ask();
    t.ok(tip.answer(second, B));
    t.notOk(tip.answer(first, A));
    t.equal(tip.value, B);
    t.notOk(tip.answer(second, A), 'the same lookup does not answer twice');
    t.equal(tip.value, B);
  });

  t.test('a forgotten tip is not brought back by an answer from before', async (t) => {
    const tip = new KnownTip();
    tip.made(A);
    const before = tip.ask();
    tip.forget();
    t.notOk(tip.answer(before, A));
    t.equal(tip.value, undefined, 'still unknown: the next write looks first');
    t.ok(tip.answer(tip.ask(), B));
    t.equal(tip.value, B);
  });

  t.test('a push accepted after a lookup was answered replaces it', async (t) => {
    const tip = new KnownTip();
    tip.answer(tip.ask(), A);
    tip.made(B);
    t.equal(tip.value, B);
    tip.made(C);
    t.equal(tip.value, C);
  });
});

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

const body = (text: string): BodySource => ({ stream: once(Buffer.from(text)), length: text.length });

async function text(read: ReadResult): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of read.stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString();
}

interface Rig {
  git: FixtureServer;
  repo: { dir: string; url: string };
  proxy: FaultProxy;
  store: GitStore;
  /** Holds the answer of the next upload-pack POST; resolves once the remote has answered it. */
  holdNextLookup(): { held: Promise<void>; release: () => void };
}

async function rig(t: Test, name: string): Promise<Rig> {
  const git = await startFixtureServer(t);
  const repo = await git.createRepo(name, { seed: [[{ path: 'read.txt', content: 'read' }, { path: 'w.txt', content: 'w0' }]] });
  const proxy = await startFaultProxy(git.url, t);
  const store = new GitStore({
    remote: { url: `${proxy.url}/${name}.git` },
    branch: 'main',
    author: { name: 'gitrest', email: 'gitrest@localhost' },
    maxBodyBytes: 1 << 20,
  });
  t.teardown(() => store.close());
  // Warm: the tip, the trees and read.txt cached, receive-pack's capabilities learned.
  t.equal(await text(await store.get('read.txt')), 'read');
  t.equal((await store.replace('w.txt', body('w1'))).retries, 0);
  return {
    git,
    repo,
    proxy,
    store,
    holdNextLookup() {
      let release!: () => void;
      let onHeld!: () => void;
      const held = new Promise<void>((r) => (onHeld = r));
      proxy.inject({
        match: { service: 'upload-pack', method: 'POST' },
        fault: { kind: 'hold-response', release: new Promise<void>((r) => (release = r)), onHeld },
      });
      return { held, release };
    },
  };
}

/**
 * The next write must cost one push and no retry: the tip it builds on is the one our last push made.
 * `fetches` are the upload-pack requests it needs besides (none when our push's objects are cached).
 */
async function expectOneTripWrite(t: Test, r: Rig, madeBefore: string, fetches = 0): Promise<void> {
  r.git.resetCounts();
  const again = await r.store.replace('w.txt', body('w3'));
  t.equal(again.retries, 0, 'no retry');
  t.same(r.git.counts(), { 'info-refs': 0, 'upload-pack': fetches, 'receive-pack': 1, other: 0, total: 1 + fetches },
    'one push, never refused');
  t.equal(await revParse(r.repo.dir, 'main'), again.commit);
  t.equal(await revParse(r.repo.dir, 'main^'), madeBefore, 'built on our last push');
  t.equal((await readTreeFiles(r.repo.dir, 'main')).get('w.txt')?.toString(), 'w3');
  await fsck(r.repo.dir);
}

t.test("a read's lookup answered after a write's push does not take the tip back", async (t) => {
  const r = await rig(t, 'race');
  const before = await revParse(r.repo.dir, 'main');
  const hold = r.holdNextLookup();
  const reading = r.store.get('read.txt');
  await hold.held; // the remote answered the lookup with the tip from before the push below
  const pushed = await r.store.replace('w.txt', body('w2'));
  t.equal(pushed.retries, 0);
  hold.release();
  const read = await reading;
  t.equal(read.commit, before, 'the read saw the branch as it was when its lookup reached the remote');
  t.equal(await text(read), 'read');
  await expectOneTripWrite(t, r, pushed.commit);
});

t.test('a lookup answered after a push in doubt was read back does not take the tip back', async (t) => {
  const r = await rig(t, 'doubt');
  const hold = r.holdNextLookup();
  const reading = r.store.get('read.txt');
  await hold.held;
  // The push lands but its answer is lost: the store reads the branch back (its own lookup) and finds it.
  r.proxy.inject({ match: { service: 'receive-pack', method: 'POST' }, fault: { kind: 'answer-lost' } });
  const pushed = await r.store.replace('w.txt', body('w2'));
  t.equal(await revParse(r.repo.dir, 'main'), pushed.commit);
  hold.release();
  await text(await reading);
  // The commit and root tree of a push without an answer are not cached: one fetch, then the push.
  await expectOneTripWrite(t, r, pushed.commit, 1);
});
