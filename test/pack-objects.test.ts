import t from 'tap';
import { decodeCommit, decodeTag, encodeCommit, encodeTag, formatIdentity, parseIdentity, type Commit } from '../src/pack/commit.js';
import { ZERO_OID, isOid, isSha1OrSha256Hex } from '../src/pack/object.js';
import { ObjectHasher, hashObject } from '../src/pack/oid.js';
import {
  BLOB_MODE,
  EXECUTABLE_MODE,
  GITLINK_MODE,
  SYMLINK_MODE,
  TREE_MODE,
  compareTreeEntries,
  decodeTree,
  encodeTree,
  isTreeMode,
  type TreeEntry,
} from '../src/pack/tree.js';
import { git, gitText, initRepo, packError } from '../fixtures/pack-git.js';

t.test('object ids', async (t) => {
  t.equal(ZERO_OID, '0'.repeat(40));
  t.ok(isOid('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'));
  t.notOk(isOid('E69DE29BB2D1D6434B8B29AE775AD8C2E48C5391'));
  t.notOk(isOid('e69de29b'));
  t.notOk(isOid('a'.repeat(64)), 'isOid is SHA-1 only');
  t.ok(isSha1OrSha256Hex('a'.repeat(40)) && isSha1OrSha256Hex('a'.repeat(64)));
  t.notOk(isSha1OrSha256Hex('a'.repeat(50)) || isSha1OrSha256Hex('A'.repeat(64)));
});

t.test('hashObject matches git hash-object for blobs', async (t) => {
  const repo = initRepo(t);
  const all256 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const blobs = [Buffer.alloc(0), Buffer.from('hello\n'), all256, Buffer.alloc(100_000, 'xyz')];
  for (const blob of blobs) {
    t.equal(hashObject('blob', blob), gitText(repo, ['hash-object', '--stdin'], blob), `${blob.length}-byte blob`);
  }
  t.equal(hashObject('blob', Buffer.alloc(0)), 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
});

t.test('ObjectHasher hashes chunks and checks the size', async (t) => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
  const hasher = new ObjectHasher('blob', data.length);
  for (let i = 0; i < data.length; i += 33) hasher.update(data.subarray(i, i + 33));
  t.equal(hasher.digest(), hashObject('blob', data));
  t.equal(new ObjectHasher('blob', 0).digest(), hashObject('blob', Buffer.alloc(0)));
  t.throws(() => new ObjectHasher('blob', 5).update(Buffer.alloc(3)).digest(), packError('bad-size'));
  t.throws(() => new ObjectHasher('blob', 2).update(Buffer.alloc(3)), packError('bad-size'));
});

const entry = (mode: string, name: string, oid: string): TreeEntry => ({ mode, name: Buffer.from(name), oid });

t.test('encodeTree orders like git mktree', async (t) => {
  const repo = initRepo(t);
  const blob = gitText(repo, ['hash-object', '-w', '--stdin'], 'content\n');
  const empty = gitText(repo, ['mktree'], '');
  const mktree = (entries: TreeEntry[]) =>
    gitText(
      repo,
      ['mktree', '--missing'],
      entries
        .map((e) => `${e.mode} ${isTreeMode(e.mode) ? 'tree' : e.mode === GITLINK_MODE ? 'commit' : 'blob'} ${e.oid}\t${e.name}`)
        .join('\n') + '\n',
    );
  const cases: Record<string, TreeEntry[]> = {
    'file a': [entry(BLOB_MODE, 'ab', blob), entry(BLOB_MODE, 'a-b', blob), entry(BLOB_MODE, 'a', blob), entry(BLOB_MODE, 'a.b', blob)],
    'dir a': [entry(BLOB_MODE, 'ab', blob), entry(TREE_MODE, 'a', empty), entry(BLOB_MODE, 'a0', blob), entry(BLOB_MODE, 'a.b', blob), entry(BLOB_MODE, 'a-b', blob)],
    'all five modes': [
      entry(GITLINK_MODE, 'sub', 'a'.repeat(40)),
      entry(SYMLINK_MODE, 'link', blob),
      entry(EXECUTABLE_MODE, 'run.sh', blob),
      entry(TREE_MODE, 'dir', empty),
      entry(BLOB_MODE, 'file.txt', blob),
    ],
    'utf-8 names': [entry(BLOB_MODE, 'zeta', blob), entry(BLOB_MODE, 'été', blob), entry(BLOB_MODE, 'Zed', blob)],
  };
  for (const [name, entries] of Object.entries(cases)) {
    const encoded = encodeTree(entries);
    const oid = mktree(entries);
    t.equal(hashObject('tree', encoded), oid, `${name}: same id as git`);
    t.same(git(repo, ['cat-file', 'tree', oid]), encoded, `${name}: same bytes as git`);
    const decoded = decodeTree(encoded);
    t.same(decoded, [...entries].sort(compareTreeEntries), `${name}: decode(encode(x)) is x in git order`);
    const lsTree = gitText(repo, ['ls-tree', '-z', oid]).split('\0').filter(Boolean).map((l) => l.split('\t')[1]);
    t.same(decoded.map((e) => e.name.toString()), lsTree, `${name}: same order as git ls-tree`);
  }
  t.same(
    decodeTree(encodeTree(cases['dir a']!)).map((e) => e.name.toString()),
    ['a-b', 'a.b', 'a', 'a0', 'ab'],
    'a directory sorts as if its name ended in /',
  );
  t.same(encodeTree([]), Buffer.alloc(0));
  t.equal(hashObject('tree', encodeTree([])), empty);
});

t.test('trees keep legacy modes and raw name bytes', async (t) => {
  const repo = initRepo(t);
  const blob = 'b'.repeat(40);
  const raw = encodeTree([
    { mode: '100664', name: Buffer.from('old-mode'), oid: blob },
    { mode: '040000', name: Buffer.from('padded-dir'), oid: blob },
    { mode: BLOB_MODE, name: Buffer.from([0x6e, 0xff, 0xfe]), oid: blob },
  ]);
  const oid = gitText(repo, ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], raw);
  const fromGit = git(repo, ['cat-file', 'tree', oid]);
  const decoded = decodeTree(fromGit);
  t.same(decoded.map((e) => e.mode), [BLOB_MODE, '100664', '040000']);
  t.same(decoded[0]!.name, Buffer.from([0x6e, 0xff, 0xfe]));
  t.ok(isTreeMode('040000'));
  t.notOk(isTreeMode(GITLINK_MODE));
  t.same(encodeTree(decoded), fromGit, 'roundtrips byte for byte');
  t.equal(hashObject('tree', encodeTree(decoded)), oid);
});

t.test('encodeTree rejects invalid entries', async (t) => {
  const oid = 'c'.repeat(40);
  const bad: Array<[string, TreeEntry[]]> = [
    ['empty name', [entry(BLOB_MODE, '', oid)]],
    ['slash', [entry(BLOB_MODE, 'a/b', oid)]],
    ['NUL', [entry(BLOB_MODE, 'a\0b', oid)]],
    ['dot', [entry(BLOB_MODE, '.', oid)]],
    ['dotdot', [entry(TREE_MODE, '..', oid)]],
    ['duplicate', [entry(BLOB_MODE, 'x', oid), entry(BLOB_MODE, 'x', oid)]],
    ['file and dir of one name', [entry(BLOB_MODE, 'x', oid), entry(BLOB_MODE, 'x.y', oid), entry(TREE_MODE, 'x', oid)]],
    ['bad mode', [entry('10064x', 'x', oid)]],
    ['bad oid', [entry(BLOB_MODE, 'x', 'C'.repeat(40))]],
  ];
  for (const [name, entries] of bad) t.throws(() => encodeTree(entries), packError('bad-object'), name);
});

t.test('decodeTree rejects malformed trees', async (t) => {
  const oid = Buffer.alloc(20, 0xab);
  const good = Buffer.concat([Buffer.from('100644 a\0'), oid]);
  const bad: Array<[string, Buffer]> = [
    ['truncated oid', good.subarray(0, good.length - 1)],
    ['no NUL', Buffer.from('100644 abc')],
    ['no space', Buffer.from('100644')],
    ['non-octal mode', Buffer.concat([Buffer.from('100648 a\0'), oid])],
    ['empty mode', Buffer.concat([Buffer.from(' a\0'), oid])],
    ['empty name', Buffer.concat([Buffer.from('100644 \0'), oid])],
    ['slash in name', Buffer.concat([Buffer.from('100644 a/b\0'), oid])],
    ['dotdot', Buffer.concat([Buffer.from('40000 ..\0'), oid])],
    ['unsorted', Buffer.concat([Buffer.from('100644 b\0'), oid, good])],
    ['duplicate', Buffer.concat([good, good])],
  ];
  for (const [name, data] of bad) t.throws(() => decodeTree(data), packError('bad-object'), name);
  t.same(decodeTree(good), [{ mode: BLOB_MODE, name: Buffer.from('a'), oid: oid.toString('hex') }]);
  t.throws(() => decodeTree(Buffer.concat([good, Buffer.from('100644 b\0'), oid]), { maxEntries: 1 }), packError('too-large'));
});

t.test('commits match git commit-tree and roundtrip', async (t) => {
  const repo = initRepo(t);
  const tree = gitText(repo, ['mktree'], '');
  const first = gitText(repo, ['commit-tree', tree, '-m', 'first']);
  const other = gitText(repo, ['commit-tree', tree, '-m', 'other']);
  const second = gitText(repo, ['commit-tree', tree, '-p', first, '-p', other, '-m', 'second\n\nbody ünïcode']);
  const commit: Commit = {
    tree,
    parents: [first, other],
    author: { name: 'Ada Author', email: 'ada@example.com', timestamp: 1700000000, timezone: '+0100' },
    committer: { name: 'Cody Committer', email: 'cody@example.com', timestamp: 1700000100, timezone: '-0230' },
    message: 'second\n\nbody ünïcode\n',
  };
  const encoded = encodeCommit(commit);
  t.equal(hashObject('commit', encoded), second, 'same id as git commit-tree');
  t.equal(gitText(repo, ['hash-object', '-t', 'commit', '--stdin'], encoded), second, 'git hash-object accepts it');
  t.same(decodeCommit(git(repo, ['cat-file', 'commit', second])), commit, 'decodes what git wrote');
  const root = decodeCommit(git(repo, ['cat-file', 'commit', first]));
  t.same(root.parents, []);
  t.equal(root.message, 'first\n');
  t.equal(hashObject('commit', encodeCommit(root)), first);
});

t.test('commits with extra and multi-line headers roundtrip through git', async (t) => {
  const repo = initRepo(t);
  const tree = gitText(repo, ['mktree'], '');
  const commit: Commit = {
    tree,
    parents: [],
    author: { name: 'A', email: 'a@x', timestamp: 0, timezone: '+0000' },
    committer: { name: 'C D', email: 'c@x', timestamp: 4102444800, timezone: '-1200' },
    message: 'signed\n',
    extraHeaders: [
      ['encoding', 'UTF-8'],
      ['gpgsig', '-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----'],
    ],
  };
  const encoded = encodeCommit(commit);
  t.match(encoded.toString(), /\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nsigned\n$/);
  const oid = gitText(repo, ['hash-object', '-t', 'commit', '-w', '--stdin'], encoded);
  t.equal(oid, hashObject('commit', encoded));
  t.same(decodeCommit(git(repo, ['cat-file', 'commit', oid])), commit);
  t.equal(gitText(repo, ['log', '-1', '--format=%an|%ae|%at|%cn|%ce|%ct|%B', oid]), 'A|a@x|0|C D|c@x|4102444800|signed');
});

t.test('decodeCommit rejects malformed commits', async (t) => {
  const tree = 'd'.repeat(40);
  const ident = 'A <a@x> 1 +0000';
  const bad: Record<string, string> = {
    'no tree': `author ${ident}\ncommitter ${ident}\n\nm`,
    'bad tree id': `tree xyz\nauthor ${ident}\ncommitter ${ident}\n\nm`,
    'no committer': `tree ${tree}\nauthor ${ident}\n\nm`,
    'author after committer': `tree ${tree}\ncommitter ${ident}\nauthor ${ident}\n\nm`,
    'bad identity': `tree ${tree}\nauthor A a@x 1 +0000\ncommitter ${ident}\n\nm`,
    'bad date': `tree ${tree}\nauthor A <a@x> soon +0000\ncommitter ${ident}\n\nm`,
    'unterminated header': `tree ${tree}\nauthor ${ident}\ncommitter ${ident}`,
  };
  for (const [name, text] of Object.entries(bad)) t.throws(() => decodeCommit(Buffer.from(text)), packError('bad-object'), name);
});

t.test('identities', async (t) => {
  const id = { name: 'Jane Q. Doe', email: 'jane@example.com', timestamp: 1234567890, timezone: '+0530' };
  t.equal(formatIdentity(id), 'Jane Q. Doe <jane@example.com> 1234567890 +0530');
  t.same(parseIdentity(formatIdentity(id)), id);
  t.throws(() => formatIdentity({ ...id, email: 'a>b' }), packError('bad-object'));
  t.throws(() => formatIdentity({ ...id, name: 'x\ny' }), packError('bad-object'));
  t.throws(() => parseIdentity('Jane <jane@example.com> 1234567890 +05:30'), packError('bad-object'));
});

t.test('decodes an annotated tag made by git', async (t) => {
  const repo = initRepo(t);
  const tree = gitText(repo, ['mktree'], '');
  const commit = gitText(repo, ['commit-tree', tree, '-m', 'tagged']);
  git(repo, ['tag', '-a', 'v1.0', '-m', 'Release 1.0\n\nNotes.', commit]);
  const oid = gitText(repo, ['rev-parse', 'refs/tags/v1.0']);
  const tag = decodeTag(git(repo, ['cat-file', 'tag', oid]));
  t.same(tag, {
    object: commit,
    type: 'commit',
    tag: 'v1.0',
    tagger: { name: 'Cody Committer', email: 'cody@example.com', timestamp: 1700000100, timezone: '-0230' },
    message: 'Release 1.0\n\nNotes.\n',
  });
  t.equal(hashObject('tag', encodeTag(tag)), oid, 'encodeTag reproduces the id');
  t.throws(() => decodeTag(Buffer.from(`object ${commit}\ntype banana\ntag x\n\n`)), packError('bad-object'));
});
