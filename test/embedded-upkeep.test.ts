// The embedded default looks after its repository: loose objects from small pushes get packed in the
// background, one upkeep run at a time; and its Git server keeps its port across restarts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { gitText } from '../fixtures/repo.js';
import { PORT_FILE, startEmbeddedDefault } from '../src/embedded/default-repo.js';
import { looseObjects } from '../src/embedded/upkeep.js';
import { GitStore } from '../src/store/git-store.js';

function body(text: string): { stream: AsyncIterable<Uint8Array> } {
  return { stream: (async function* () { yield Buffer.from(text); })() };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gitrest-upkeep-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('loose objects from pushes get packed after every N writes', async (t) => {
  const dataDir = await tempDir(t);
  const embedded = await startEmbeddedDefault({
    dataDir, branch: 'main', upkeep: { everyWrites: 4, looseLimit: 1, intervalMs: 3_600_000 },
  });
  t.teardown(() => embedded.close());
  const store = new GitStore({ remote: { url: embedded.repoUrl }, branch: 'main', author: { name: 'a', email: 'a@b' },
    maxBodyBytes: 1 << 20 });
  t.teardown(() => store.close());
  // One at a time, so that each write is its own push (a small push is stored as loose objects).
  for (let i = 0; i < 3; i++) await store.create(`f${i}.json`, body(`{"n":${i}}`));
  t.ok((await looseObjects(embedded.repoDir)) > 0, 'small pushes leave loose objects');
  t.equal(embedded.upkeep.runs, 0, 'no upkeep before the fourth write');
  await store.create('f3.json', body('{"n":3}'));
  // The run starts in the background when the fourth push arrives; wait for it by count, not by time.
  for (let i = 0; i < 100 && embedded.upkeep.runs === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(embedded.upkeep.runs, 1, 'one upkeep run after the fourth write');
  t.equal(await looseObjects(embedded.repoDir), 0, 'the loose objects are packed');
  t.match(await gitText(['count-objects', '-v'], { cwd: embedded.repoDir }), /^packs: [1-9]/m, 'into a pack');
  t.equal((await store.get('f2.json')).size, 7, 'and the data still reads');
});

t.test('upkeep never runs twice at once: triggers while it runs make one more run', async (t) => {
  const dataDir = await tempDir(t);
  const embedded = await startEmbeddedDefault({ dataDir, branch: 'main', upkeep: { looseLimit: 1_000_000 } });
  t.teardown(() => embedded.close());
  const first = embedded.upkeep.trigger();
  const second = embedded.upkeep.trigger();
  const third = embedded.upkeep.trigger();
  t.equal(second, first, 'a trigger during a run joins it');
  t.equal(third, first);
  await first;
  for (let i = 0; i < 100 && embedded.upkeep.runs < 2; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(embedded.upkeep.runs, 2, 'and the triggers during it made exactly one more');
});

t.test('the embedded Git server keeps its port across restarts, on loopback', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startEmbeddedDefault({ dataDir, branch: 'main' });
  const url = first.cloneUrl;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/data\.git$/, 'loopback only');
  t.equal((await readFile(join(dataDir, PORT_FILE), 'utf8')).trim(), String(first.backend.port), 'port kept in DATA_DIR');
  await first.close();
  const second = await startEmbeddedDefault({ dataDir, branch: 'main' });
  t.equal(second.cloneUrl, url, 'same clone URL after a restart');
  await second.close();

  // The kept port taken by someone else: start anyway on another one (and keep that), with a warning.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(first.backend.port, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => blocker.close(r)));
  const warnings: string[] = [];
  const third = await startEmbeddedDefault({ dataDir, branch: 'main', log: (_l, m) => warnings.push(m) });
  t.not(third.backend.port, first.backend.port, 'another port');
  t.match(warnings.join('\n'), /port \d+ is taken/, 'with a warning');
  t.equal((await readFile(join(dataDir, PORT_FILE), 'utf8')).trim(), String(third.backend.port), 'the new one is kept');
  await third.close();

  await writeFile(join(dataDir, PORT_FILE), 'garbage\n');
  const fourth = await startEmbeddedDefault({ dataDir, branch: 'main' });
  t.ok(fourth.backend.port > 0, 'an unreadable port file is replaced');
  await fourth.close();
  await t.rejects(startEmbeddedDefault({ dataDir, branch: 'main', port: first.backend.port }),
    /EMBEDDED_GIT_PORT/, 'a configured port that is taken is an error naming EMBEDDED_GIT_PORT');
});
