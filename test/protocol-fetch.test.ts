import t, { type Test } from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { git, gitText, revParse } from '../fixtures/repo.js';
import type { PackObject } from '../src/pack/pack-reader.js';
import { RemoteError, TransportError } from '../src/protocol/errors.js';
import { Remote } from '../src/protocol/remote.js';
import { encodePkts, PktReader } from '../src/protocol/pkt-line.js';
import { readFetchResponseV2 } from '../src/protocol/upload-pack.js';
import { ProtocolError } from '../src/protocol/errors.js';

async function collect(gen: AsyncIterable<PackObject>): Promise<PackObject[]> {
  const out: PackObject[] = [];
  for await (const o of gen) out.push(o);
  return out;
}

/** Checks every fetched object against `git cat-file` in the served repository. */
async function assertMatchesGit(t: Test, dir: string, objects: PackObject[]): Promise<void> {
  for (const o of objects) {
    const type = await gitText(['cat-file', '-t', o.oid], { cwd: dir });
    const data = await git(['cat-file', type, o.oid], { cwd: dir });
    if (type !== o.type || !data.equals(o.data)) t.fail(`object ${o.oid} differs from git cat-file`);
  }
  t.pass(`${objects.length} objects match git cat-file`);
}

/** `git rev-list --objects` ids (the objects a fetch of `args` should bring). */
async function revListObjects(dir: string, args: string[]): Promise<string[]> {
  const out = await gitText(['rev-list', '--objects', ...args], { cwd: dir });
  return out.split('\n').filter(Boolean).map((l) => l.split(' ')[0]!).sort();
}

const oidsOf = (objects: PackObject[]) => objects.map((o) => o.oid).sort();

for (const protocol of [2, 0] as const) {
  t.test(`protocol v${protocol}`, async (t) => {
    const server = await startFixtureServer(t);
    const repo = await server.createRepo('history', {
      seed: [
        [{ path: 'README', content: 'hello\n' }, { path: 'a/b/c.txt', content: 'deep\n' }],
        [{ path: 'a/b/c.txt', content: 'deeper\n' }, { path: 'bin/tool', content: Buffer.from([0, 1, 2, 3, 255]), mode: '100755' }],
        [{ path: 'x/y.json', content: '{"k":1}' }],
      ],
    });
    const tip = (await revParse(repo.dir, 'main'))!;
    const remote = new Remote({ url: repo.url, protocol });
    t.teardown(() => remote.close());

    t.test('a commit with blob:none: history and trees, no blobs', async (t) => {
      const info = await remote.fetchPack({ wants: [tip], filter: 'blob:none' });
      info.close();
      t.same(info.plan, { filter: 'blob:none' });
      const objects = await collect(remote.fetch({ wants: [tip], filter: 'blob:none' }));
      t.equal(objects.filter((o) => o.type === 'blob').length, 0, 'no blobs');
      t.equal(objects.filter((o) => o.type === 'commit').length, 3, 'all three commits');
      t.same(oidsOf(objects), await revListObjects(repo.dir, ['--filter=blob:none', tip]));
      await assertMatchesGit(t, repo.dir, objects);
    });

    t.test('a single tree by id with tree:0', async (t) => {
      const tree = (await revParse(repo.dir, 'main:a'))!;
      const objects = await collect(remote.fetch({ wants: [tree], filter: 'tree:0' }));
      t.same(objects.map((o) => [o.type, o.oid]), [['tree', tree]], 'exactly the one tree');
      await assertMatchesGit(t, repo.dir, objects);
    });

    t.test('a single blob by id', async (t) => {
      const blob = (await revParse(repo.dir, 'main:bin/tool'))!;
      const objects = await collect(remote.fetch({ wants: [blob] }));
      t.same(objects.map((o) => [o.type, o.oid]), [['blob', blob]]);
      t.same([...objects[0]!.data], [0, 1, 2, 3, 255]);
      await assertMatchesGit(t, repo.dir, objects);
    });

    t.test('several wants of different kinds in one request', async (t) => {
      const blob = (await revParse(repo.dir, 'main:README'))!;
      const tree = (await revParse(repo.dir, 'main:x'))!;
      const objects = await collect(remote.fetch({ wants: [blob, tree], filter: 'tree:0' }));
      t.same(oidsOf(objects), [blob, tree].sort());
    });

    t.test('deepen 1 returns only the tip commit', async (t) => {
      const info = await remote.fetchPack({ wants: [tip], depth: 1, filter: 'blob:none' });
      info.close();
      t.same(info.shallow, [tip], 'the tip is the shallow boundary');
      const objects = await collect(remote.fetch({ wants: [tip], depth: 1, filter: 'blob:none' }));
      const commits = objects.filter((o) => o.type === 'commit');
      t.same(commits.map((c) => c.oid), [tip]);
      t.same(oidsOf(objects), await revListObjects(repo.dir, ['--filter=blob:none', '--max-count=1', tip]));
      await assertMatchesGit(t, repo.dir, objects);
      // Without a filter the tip's blobs come too, still only one commit.
      const full = await collect(remote.fetch({ wants: [tip], depth: 1 }));
      t.same(full.filter((o) => o.type === 'commit').map((c) => c.oid), [tip]);
      t.equal(full.filter((o) => o.type === 'blob').length, 4, 'the four files of the tip');
    });

    t.test('an unknown want is a typed error, not a hang', async (t) => {
      const missing = '1'.repeat(40);
      const err = await collect(remote.fetch({ wants: [missing] })).catch((e: unknown) => e);
      t.ok(err instanceof RemoteError, 'RemoteError');
      t.match((err as RemoteError).remoteMessage, `not our ref ${missing}`);
    });

    t.test('one POST per fetch once capabilities are known', async (t) => {
      server.resetCounts();
      await collect(remote.fetch({ wants: [tip], filter: 'tree:0' }));
      t.same(server.counts('history'), { 'info-refs': 0, 'upload-pack': 1, 'receive-pack': 0, other: 0, total: 1 });
      const fresh = new Remote({ url: repo.url, protocol });
      t.teardown(() => fresh.close());
      await collect(fresh.fetch({ wants: [tip], filter: 'tree:0' }));
      t.equal(server.counts('history').total, 3, 'a new Remote discovers capabilities first');
    });

    t.test('an abandoned fetch frees its connection; an aborted one rejects', async (t) => {
      for await (const o of remote.fetch({ wants: [tip] })) {
        t.ok(o.oid);
        break;
      }
      const again = await collect(remote.fetch({ wants: [tip], filter: 'blob:none' }));
      t.same(oidsOf(again), await revListObjects(repo.dir, ['--filter=blob:none', tip]), 'the next fetch works');
      const ac = new AbortController();
      ac.abort();
      await t.rejects(collect(remote.fetch({ wants: [tip] }, { signal: ac.signal })), TransportError);
      const ac2 = new AbortController();
      const late = new Remote({ url: repo.url, protocol });
      t.teardown(() => late.close());
      const started = late.fetchPack({ wants: [tip] }, { signal: ac2.signal });
      ac2.abort();
      await t.rejects(started, { name: 'TransportError', code: 'aborted' });
    });
  });
}

t.test('a server without filter support: the filter is dropped (documented fallback)', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('nofilter', { seed: [[{ path: 'f', content: 'file' }]] });
  await git(['config', 'uploadpack.allowFilter', 'false'], { cwd: repo.dir });
  const tip = (await revParse(repo.dir, 'main'))!;
  for (const protocol of [2, 0] as const) {
    const remote = new Remote({ url: repo.url, protocol });
    const info = await remote.fetchPack({ wants: [tip], filter: 'blob:none' });
    t.same(info.plan, {}, `v${protocol}: no filter was sent`);
    info.close();
    const objects = await collect(remote.fetch({ wants: [tip], filter: 'blob:none' }));
    t.equal(objects.filter((o) => o.type === 'blob').length, 1, `v${protocol}: the blob came anyway`);
    await remote.close();
  }
});

t.test('want-ref: a ref\'s id and its objects in one request, where the server takes it', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('riw', { seed: [[{ path: 'a/f', content: 'file' }], [{ path: 'g', content: 'g' }]] });
  const tip = (await revParse(repo.dir, 'main'))!;
  const v2 = new Remote({ url: repo.url, protocol: 2 });
  t.teardown(() => v2.close());
  t.equal(await v2.fetchRef('refs/heads/main', { depth: 1 }), undefined, 'not offered (git\'s default): nothing is sent');
  t.equal(server.counts('riw')['upload-pack'], 0, 'no fetch went out');

  await git(['config', 'uploadpack.allowRefInWant', 'true'], { cwd: repo.dir });
  const remote = new Remote({ url: repo.url, protocol: 2 });
  t.teardown(() => remote.close());
  server.resetCounts();
  const got = await remote.fetchRef('refs/heads/main', { depth: 1, filter: 'tree:1' });
  t.equal(got?.oid, tip, 'the id from the wanted-refs section');
  t.same(got?.objects.map((o) => o.type).sort(), ['commit', 'tree'], 'the tip commit and its root tree only');
  await assertMatchesGit(t, repo.dir, got!.objects);
  t.same(server.counts('riw'), { ...server.counts('riw'), 'upload-pack': 1 }, 'one fetch (after discovery)');
  await t.rejects(remote.fetchRef('refs/heads/none', { depth: 1 }), RemoteError, 'a ref the server lacks is its error');
  await t.rejects(remote.fetchRef('main', {}), TypeError, 'a full ref name only');

  const v0 = new Remote({ url: repo.url, protocol: 0 });
  t.teardown(() => v0.close());
  t.equal(await v0.fetchRef('refs/heads/main', {}), undefined, 'v0 has no want-ref');
});

t.test('wanted-refs lines are read by ref name; a malformed one is a protocol error', async (t) => {
  const oid = 'ab'.repeat(20);
  const respond = (...lines: string[]) => new PktReader((async function* () {
    yield encodePkts('wanted-refs\n', ...lines, { type: 'delim' }, 'packfile\n', { type: 'flush' });
  })());
  const ok = await readFetchResponseV2(respond(`${oid} refs/heads/main\n`, `${'cd'.repeat(32)} refs/tags/v1\n`));
  t.same([...ok.wantedRefs], [['refs/heads/main', oid], ['refs/tags/v1', 'cd'.repeat(32)]]);
  for (const bad of [`${oid}\n`, `${oid} main\n`, `xyz refs/heads/main\n`]) {
    await t.rejects(readFetchResponseV2(respond(bad)), ProtocolError, JSON.stringify(bad));
  }
});
