// The memory store and the Git store refuse the same condition with the same kind, message and detail.
import t from 'tap';
import { startFixtureServer } from '../fixtures/git-server.js';
import { GitStore } from '../src/store/git-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { StoreError, type BodySource, type Store } from '../src/store/store.js';

const body = (text: string): BodySource => {
  const data = Buffer.from(text);
  return { length: data.length, stream: (async function* () { yield data; })() };
};

/** What `run` is refused with, as the API would show it. */
async function refusal(run: () => Promise<unknown>): Promise<{ kind: string; message: string; detail?: string }> {
  try {
    await run();
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    return { kind: err.kind, message: err.message, ...(err.detail === undefined ? {} : { detail: err.detail }) };
  }
  throw new Error('expected a refusal');
}

const CASES: Array<[string, (s: Store) => Promise<unknown>]> = [
  ['GET missing', (s) => s.get('dir/nope.txt')],
  ['GET of a directory', (s) => s.get('dir')],
  ['POST existing', (s) => s.create('dir/file.txt', body('again'))],
  ['POST below a file', (s) => s.create('dir/file.txt/below.txt', body('x'))],
  ['POST onto a directory', (s) => s.create('dir', body('x'))],
  ['PUT missing', (s) => s.replace('dir/nope.txt', body('x'))],
  ['PUT of a directory', (s) => s.replace('dir', body('x'))],
  ['DELETE missing', (s) => s.remove('dir/nope.txt')],
  ['DELETE of a directory', (s) => s.remove('dir')],
];

t.test('both stores give identical error texts', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('refusals', { seed: [[{ path: 'dir/file.txt', content: 'seed' }]] });
  const git = new GitStore({
    remote: { url: repo.url },
    branch: 'main',
    author: { name: 'gitrest', email: 'gitrest@localhost' },
  });
  t.teardown(() => git.close());
  const memory = new MemoryStore();
  await memory.create('dir/file.txt', body('seed'));

  for (const [what, run] of CASES) {
    const fromMemory = await refusal(() => run(memory));
    t.same(await refusal(() => run(git)), fromMemory, `${what}: ${fromMemory.message}`);
  }
  t.same(await refusal(() => memory.get('dir/nope.txt')), { kind: 'not-found', message: 'dir/nope.txt does not exist' });
  t.same(await refusal(() => memory.create('dir/file.txt/below.txt', body('x'))), {
    kind: 'conflict',
    message: 'dir/file.txt is a file, so dir/file.txt/below.txt cannot be created below it',
    detail: 'a path cannot be both a file and a directory',
  });
  t.equal((await git.get('dir/file.txt')).size, 4, 'nothing refused changed the branch');
  t.same(memory.paths(), ['dir/file.txt']);
});
