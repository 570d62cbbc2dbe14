// MemoryStore: the Store contract in memory, including file/directory clashes and the body limit.
import t from 'tap';
import { MemoryStore } from '../src/store/memory-store.js';
import { StoreError, type BodySource, type ReadResult } from '../src/store/store.js';

const body = (data: string | Uint8Array, withLength = true): BodySource => {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  async function* gen() {
    // Several chunks, to exercise reassembly.
    for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
  }
  return withLength ? { stream: gen(), length: bytes.length } : { stream: gen() };
};

async function read(r: ReadResult): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r.stream) parts.push(Buffer.from(c));
  const all = Buffer.concat(parts);
  if (all.length !== r.size) throw new Error(`size ${r.size} but ${all.length} bytes streamed`);
  return all;
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof StoreError) return err.kind;
    throw err;
  }
}

t.test('create, get, replace, remove', async (t) => {
  const s = new MemoryStore({ chunkBytes: 4 });
  const w1 = await s.create('users/alice/profile.json', body('{"name":"alice"}'));
  t.match(w1, { commit: /^[0-9a-f]{40}$/, retries: 0 });
  const r = await s.get('users/alice/profile.json');
  t.equal(r.size, 16);
  t.equal(r.commit, w1.commit);
  t.equal((await read(r)).toString(), '{"name":"alice"}');

  const w2 = await s.replace('users/alice/profile.json', body('v2', false));
  t.not(w2.commit, w1.commit, 'every write has a new commit id');
  t.equal((await read(await s.get('users/alice/profile.json'))).toString(), 'v2');

  const empty = await s.create('empty', body(''));
  t.equal((await s.get('empty')).size, 0);
  const w3 = await s.remove('users/alice/profile.json');
  t.same(new Set([w1.commit, w2.commit, empty.commit, w3.commit]).size, 4);
  t.same(s.paths(), ['empty']);
  t.equal(s.commitCount, 4);
});

t.test('absent paths and directories are not found', async (t) => {
  const s = new MemoryStore();
  await s.create('a/b/c.txt', body('x'));
  for (const p of ['nope', 'a', 'a/b', 'a/b/c.txt/d']) {
    t.equal(await kindOf(s.get(p)), 'not-found', `get ${p}`);
    t.equal(await kindOf(s.replace(p, body('y'))), 'not-found', `replace ${p}`);
    t.equal(await kindOf(s.remove(p)), 'not-found', `remove ${p}`);
  }
  t.equal(s.commitCount, 1, 'no commit for refused writes');
});

t.test('a path is a file or a directory, never both', async (t) => {
  const s = new MemoryStore();
  await s.create('a/b', body('file'));
  t.equal(await kindOf(s.create('a/b', body('again'))), 'conflict', 'exists');
  t.equal(await kindOf(s.create('a', body('x'))), 'conflict', 'a has children');
  t.equal(await kindOf(s.create('a/b/c', body('x'))), 'conflict', 'a/b is a file');
  t.equal(await kindOf(s.create('a/b/c/d/e', body('x'))), 'conflict', 'a/b is a file, deeper');
  t.equal((await read(await s.get('a/b'))).toString(), 'file', 'unchanged');
  await s.create('a/c', body('sibling'));
  await s.remove('a/b');
  t.equal(await kindOf(s.create('a', body('x'))), 'conflict', 'a still has a/c');
  await s.remove('a/c');
  t.equal(await kindOf(s.create('a', body('now a file'))), 'ok', 'empty directories disappear with their last file');
  t.same(s.paths(), ['a']);
});

t.test('the body limit is enforced by the store itself', async (t) => {
  const s = new MemoryStore({ maxBodyBytes: 10 });
  t.equal(await kindOf(s.create('ok', body('0123456789'))), 'ok', 'exactly the limit');
  t.equal(await kindOf(s.create('big', body('0123456789A'))), 'too-large', 'announced length');
  t.equal(await kindOf(s.create('big', body('0123456789A', false))), 'too-large', 'streamed, no length');
  t.equal(await kindOf(s.replace('ok', body('0123456789AB', false))), 'too-large', 'replace');
  t.equal((await read(await s.get('ok'))).toString(), '0123456789', 'unchanged');
  t.same(s.paths(), ['ok']);
});

t.test('a body that lies about its length, or fails, changes nothing', async (t) => {
  const s = new MemoryStore();
  t.equal(await kindOf(s.create('x', { stream: body('abc').stream, length: 5 })), 'bad-request');
  async function* failing() {
    yield Buffer.from('partial');
    throw new StoreError('bad-request', 'client went away');
  }
  t.equal(await kindOf(s.create('y', { stream: failing() })), 'bad-request');
  t.same(s.paths(), []);
  t.equal(s.commitCount, 0);
});

t.test('paths that are not normalized are refused, and a closed store is unavailable', async (t) => {
  const s = new MemoryStore();
  for (const p of ['', '/a', 'a/', 'a//b', 'a/../b', './a']) {
    t.equal(await kindOf(s.create(p, body('x'))), 'bad-request', JSON.stringify(p));
  }
  await s.close();
  t.equal(await kindOf(s.get('a')), 'unavailable');
  t.equal(await kindOf(s.create('a', body('x'))), 'unavailable');
});

t.test('StoreError carries kind, detail, retries and cause', async (t) => {
  const cause = new Error('root');
  const e = new StoreError('timeout', 'slow host', 'waited 30 s', { retries: 3, cause });
  t.ok(e instanceof Error);
  t.match(e, { name: 'StoreError', kind: 'timeout', message: 'slow host', detail: 'waited 30 s', retries: 3, cause });
  const plain = new StoreError('conflict', 'exists');
  t.equal(plain.retries, 0);
  t.equal(plain.detail, undefined);
});
