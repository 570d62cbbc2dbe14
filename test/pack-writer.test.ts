import t from 'tap';
import { inflateSync } from 'node:zlib';
import { encodeCommit } from '../src/pack/commit.js';
import type { ObjectType } from '../src/pack/object.js';
import { ObjectHasher, hashObject } from '../src/pack/oid.js';
import { readPack } from '../src/pack/pack-reader.js';
import { deflateObjectStream, writePack, type PackInput } from '../src/pack/pack-writer.js';
import { BLOB_MODE, EXECUTABLE_MODE, TREE_MODE, encodeTree } from '../src/pack/tree.js';
import { catFiles, collect, git, gitText, initRepo, packError } from '../fixtures/pack-git.js';

const BIG_CHUNK = 64 * 1024;
const BIG_CHUNKS = 80; // 5 MiB

/** The 5 MiB blob, generated chunk by chunk so it never exists whole on the writing side. */
async function* bigBlob(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < BIG_CHUNKS; i++) yield bigChunk(i);
}

function bigChunk(i: number): Buffer {
  const chunk = Buffer.alloc(BIG_CHUNK);
  let x = (i + 1) * 2654435761;
  for (let j = 0; j < BIG_CHUNK; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    chunk[j] = 0x20 + ((x >>> 16) % 64); // printable, not very compressible
  }
  return chunk;
}

function bigBlobOid(): string {
  const hasher = new ObjectHasher('blob', BIG_CHUNK * BIG_CHUNKS);
  for (let i = 0; i < BIG_CHUNKS; i++) hasher.update(bigChunk(i));
  return hasher.digest();
}

async function* items<T>(list: T[]): AsyncGenerator<T> {
  yield* list;
}

t.test('git index-pack --strict accepts a written pack', async (t) => {
  const small = Buffer.from('hello world\n');
  const empty = Buffer.alloc(0);
  const all256 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const bigOid = bigBlobOid();
  const sub = encodeTree([{ mode: BLOB_MODE, name: Buffer.from('bytes.bin'), oid: hashObject('blob', all256) }]);
  const root = encodeTree([
    { mode: BLOB_MODE, name: Buffer.from('hello.txt'), oid: hashObject('blob', small) },
    { mode: BLOB_MODE, name: Buffer.from('empty'), oid: hashObject('blob', empty) },
    { mode: EXECUTABLE_MODE, name: Buffer.from('big.bin'), oid: bigOid },
    { mode: TREE_MODE, name: Buffer.from('sub'), oid: hashObject('tree', sub) },
  ]);
  const commit = encodeCommit({
    tree: hashObject('tree', root),
    parents: [],
    author: { name: 'Writer', email: 'w@example.com', timestamp: 1700000000, timezone: '+0000' },
    committer: { name: 'Writer', email: 'w@example.com', timestamp: 1700000000, timezone: '+0000' },
    message: 'written by writePack\n',
  });
  const inputs: PackInput[] = [
    { type: 'blob', size: small.length, data: small },
    { type: 'blob', size: 0, data: empty },
    { type: 'blob', size: all256.length, data: all256 },
    { type: 'blob', size: BIG_CHUNK * BIG_CHUNKS, data: bigBlob() },
    { type: 'tree', size: sub.length, data: sub },
    { type: 'tree', size: root.length, data: root },
    { type: 'commit', size: commit.length, data: commit },
  ];
  const expected = new Map<string, { type: ObjectType; data?: Buffer }>([
    [hashObject('blob', small), { type: 'blob', data: small }],
    [hashObject('blob', empty), { type: 'blob', data: empty }],
    [hashObject('blob', all256), { type: 'blob', data: all256 }],
    [bigOid, { type: 'blob' }],
    [hashObject('tree', sub), { type: 'tree', data: sub }],
    [hashObject('tree', root), { type: 'tree', data: root }],
    [hashObject('commit', commit), { type: 'commit', data: commit }],
  ]);

  const parts = await collect(writePack(inputs.length, items(inputs)));
  t.ok(Math.max(...parts.map((p) => p.length)) < 1024 * 1024, 'the 5 MiB blob was written in pieces');
  const pack = Buffer.concat(parts);

  const bare = initRepo(t, { bare: true });
  const indexed = gitText(bare, ['index-pack', '--strict', '--stdin'], pack);
  t.match(indexed, /^pack\t[0-9a-f]{40}$/, 'index-pack --strict accepted it');
  const fromGit = catFiles(bare, [...expected.keys()]);
  for (const [oid, want] of expected) {
    const got = fromGit.get(oid)!;
    t.equal(got.type, want.type, `${oid} type`);
    if (want.data) t.same(got.data, want.data, `${oid} content`);
  }
  t.equal(fromGit.get(bigOid)!.data.length, BIG_CHUNK * BIG_CHUNKS, 'big blob size');
  git(bare, ['update-ref', 'refs/heads/main', hashObject('commit', commit)]);
  git(bare, ['fsck', '--strict', '--no-dangling']);
  t.same(git(bare, ['show', 'main:sub/bytes.bin']), all256, 'git reads files through the commit');

  const readBack = await collect(readPack(items([pack])));
  t.same(readBack.map((o) => o.oid), [...expected.keys()], 'readPack returns every object in order');
  for (const o of readBack) {
    const want = expected.get(o.oid)!;
    t.equal(o.type, want.type);
    if (want.data) t.same(o.data, want.data);
  }
});

t.test('writePack accepts a sync iterable and writes an empty pack', async (t) => {
  const pack = Buffer.concat(await collect(writePack(0, [])));
  t.equal(pack.length, 32, 'header and trailer only');
  const bare = initRepo(t, { bare: true });
  t.match(gitText(bare, ['index-pack', '--stdin'], pack), /^pack\t/);
  t.same(await collect(readPack(items([pack]))), []);
});

t.test('writePack checks counts and sizes', async (t) => {
  const blob = (data: string): PackInput => ({ type: 'blob', size: data.length, data: Buffer.from(data) });
  await t.rejects(collect(writePack(2, [blob('a')])), packError('bad-count'), 'fewer objects than declared');
  await t.rejects(collect(writePack(1, [blob('a'), blob('b')])), packError('bad-count'), 'more objects than declared');
  await t.rejects(collect(writePack(1, [{ type: 'blob', size: 3, data: Buffer.from('ab') }])), packError('bad-size'));
  await t.rejects(
    collect(writePack(1, [{ type: 'blob', size: 3, data: items([Buffer.from('ab')]) }])),
    packError('bad-size'),
    'stream shorter than size',
  );
  await t.rejects(
    collect(writePack(1, [{ type: 'blob', size: 3, data: items([Buffer.from('ab'), Buffer.from('cd')]) }])),
    packError('bad-size'),
    'stream longer than size',
  );
  await t.rejects(collect(writePack(-1, [])), packError('bad-count'));
});

t.test('deflateObjectStream deflates a stream', async (t) => {
  const chunks = [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defg')];
  const out = Buffer.concat(await collect(deflateObjectStream(items(chunks), 7)));
  t.same(inflateSync(out), Buffer.from('abcdefg'));
});
