import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { git, gitText, revParse } from '../fixtures/repo.js';
import { Remote } from '../src/protocol/remote.js';

for (const protocol of [2, 0] as const) {
  t.test(`protocol v${protocol}`, async (t) => {
    const server = await startFixtureServer(t);

    t.test('empty repository', async (t) => {
      const repo = await server.createRepo('empty');
      const remote = new Remote({ url: repo.url, protocol });
      t.teardown(() => remote.close());
      const list = await remote.lsRefs();
      t.equal(list.refs.size, 0, 'no refs');
      t.equal(remote.protocolVersion, protocol);
      if (protocol === 2) t.equal(list.symrefs.get('HEAD'), 'refs/heads/main', 'unborn HEAD is reported');
      const push = await remote.advertiseReceivePack();
      t.equal(push.refs.size, 0);
      t.ok(push.capabilities.has('report-status'));
      t.ok(push.capabilities.has('delete-refs'));
    });

    t.test('non-empty repository: refs, symref HEAD, peeled tags, prefixes', async (t) => {
      const repo = await server.createRepo('full', {
        seed: [[{ path: 'a.txt', content: 'one' }], [{ path: 'b/c.txt', content: 'two' }]],
      });
      await git(['tag', '-a', 'v1', '-m', 'release 1', 'main'], { cwd: repo.dir });
      await git(['tag', 'light', 'main~1'], { cwd: repo.dir });
      await git(['update-ref', 'refs/heads/other', 'main~1'], { cwd: repo.dir });
      const main = (await revParse(repo.dir, 'refs/heads/main'))!;
      const first = (await revParse(repo.dir, 'main~1'))!;
      const tagObject = (await revParse(repo.dir, 'refs/tags/v1'))!;
      t.not(tagObject, main, 'annotated tag is its own object');

      const remote = new Remote({ url: repo.url, protocol });
      t.teardown(() => remote.close());
      const list = await remote.lsRefs();
      const expected = new Map(
        (await gitText(['show-ref'], { cwd: repo.dir })).split('\n').map((l) => {
          const [oid, name] = l.split(' ');
          return [name!, oid!] as const;
        }),
      );
      expected.set('HEAD', main);
      t.same(new Map([...list.refs].sort()), new Map([...expected].sort()), 'refs match git show-ref');
      t.equal(list.refs.get('refs/tags/v1'), tagObject);
      t.equal(list.peeled.get('refs/tags/v1'), main, 'annotated tag peels to the commit');
      t.notOk(list.peeled.has('refs/tags/light'), 'lightweight tags are not peeled');
      t.equal(list.symrefs.get('HEAD'), 'refs/heads/main');

      const tags = await remote.lsRefs(['refs/tags/']);
      t.same([...tags.refs.keys()].sort(), ['refs/tags/light', 'refs/tags/v1']);
      t.equal(tags.peeled.get('refs/tags/v1'), main);
      const heads = await remote.lsRefs(['refs/heads/other', 'HEAD']);
      t.same([...heads.refs].sort(), [['HEAD', main], ['refs/heads/other', first]]);

      const push = await remote.advertiseReceivePack();
      t.equal(push.refs.get('refs/heads/main'), main);
      t.ok(push.capabilities.has('report-status'));
    });

    t.test('round trips: the upload-pack capabilities are fetched once', async (t) => {
      const repo = await server.createRepo('counted', { seed: [[{ path: 'x', content: 'x' }]] });
      const remote = new Remote({ url: repo.url, protocol });
      t.teardown(() => remote.close());
      server.resetCounts();
      await remote.lsRefs();
      const afterFirst = server.counts('counted');
      await remote.lsRefs(['refs/heads/']);
      const afterSecond = server.counts('counted');
      if (protocol === 2) {
        t.same(afterFirst, { 'info-refs': 1, 'upload-pack': 1, 'receive-pack': 0, other: 0, total: 2 }, 'first lsRefs: 2 requests');
        t.same(afterSecond, { 'info-refs': 1, 'upload-pack': 2, 'receive-pack': 0, other: 0, total: 3 }, 'second lsRefs: 1 request');
        t.same(server.requests.map((r) => r.gitProtocol), ['version=2', 'version=2', 'version=2']);
      } else {
        // v0 lists refs in the advertisement itself: every lsRefs is exactly one GET.
        t.same(afterFirst, { 'info-refs': 1, 'upload-pack': 0, 'receive-pack': 0, other: 0, total: 1 });
        t.same(afterSecond, { 'info-refs': 2, 'upload-pack': 0, 'receive-pack': 0, other: 0, total: 2 });
        t.same(server.requests.map((r) => r.gitProtocol), [undefined, undefined]);
      }
      t.equal(remote.stats.requests, afterSecond.total);
      t.ok(remote.stats.bytesReceived > 0);
    });
  });
}
