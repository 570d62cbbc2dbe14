// parseResourcePath: what a request target turns into, and every way it is refused.
import t from 'tap';
import { PathError } from '../src/api/http-error.js';
import { MAX_PATH_BYTES, MAX_SEGMENT_BYTES, parseResourcePath } from '../src/api/paths.js';

t.test('valid paths are decoded and normalized', async (t) => {
  const cases: Array<[string, string]> = [
    ['/a.json', 'a.json'],
    ['/users/alice/profile.json', 'users/alice/profile.json'],
    ['/caf%C3%A9/%E2%9C%93.txt', 'café/✓.txt'],
    ['/caf%c3%a9', 'café'], // lower-case hex
    ['/café/naïve', 'café/naïve'], // already-decoded text is kept as is
    ['/a%20b/c+d', 'a b/c+d'], // "+" is not a space in paths
    ['/a.json?x=1&y=/../', 'a.json'], // the query string is ignored
    ['/a#frag', 'a'],
    ['/%25', '%'],
    ['/.gitignore', '.gitignore'],
    ['/a/.github/x.git', 'a/.github/x.git'],
    ['/...', '...'],
    ['/%EF%BB%BFbom', '\ufeffbom'], // a leading BOM is part of the name
    ['/emoji%F0%9F%98%80', 'emoji😀'],
  ];
  for (const [raw, want] of cases) t.equal(parseResourcePath(raw), want, raw);
});

t.test('limits: 255 bytes per segment, 4096 bytes in all', async (t) => {
  const seg255 = 'x'.repeat(MAX_SEGMENT_BYTES);
  t.equal(parseResourcePath('/' + seg255), seg255);
  // 2-byte characters count as 2 bytes.
  const e127 = 'é'.repeat(127); // 254 bytes
  t.equal(parseResourcePath('/' + encodeURIComponent(e127)), e127);
  t.throws(() => parseResourcePath('/' + encodeURIComponent('é'.repeat(128))), { message: /segment 1 is too long \(256 bytes\)/ });
  t.throws(() => parseResourcePath('/a/' + 'x'.repeat(256)), { message: /segment 2 is too long/ });

  // 17 segments of 240 bytes + 16 slashes = 4096 bytes: allowed; one more byte: refused.
  const exact = Array.from({ length: 17 }, () => 'x'.repeat(240)).join('/');
  t.equal(Buffer.byteLength(exact), MAX_PATH_BYTES);
  t.equal(parseResourcePath('/' + exact), exact);
  t.throws(() => parseResourcePath('/' + exact + 'y'), { message: /path is too long \(4097 bytes\)/ });
  t.throws(() => parseResourcePath('/' + 'a/'.repeat(10_000) + 'b'), { message: /too long/ });
  t.equal(parseResourcePath('/abcd', 4), 'abcd', 'custom limit');
  t.throws(() => parseResourcePath('/abcde', 4), PathError);
});

t.test('refused paths: a 400 PathError with a message naming the problem', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['/', /no file path/], // parseResourcePath names files; the router sends '/' and '/a/' to parseDirectoryPath
    ['', /must start with "\/"/],
    ['a.json', /must start with "\/"/],
    ['http://host/a', /must start with "\/"/],
    ['/a/', /ends with "\/"/],
    ['/a//b', /segment 2 is empty/],
    ['//a', /segment 1 is empty/],
    ['/.', /segment 1 is "\."/],
    ['/..', /segment 1 is "\.\."/],
    ['/a/../b', /segment 2 is "\.\."/],
    ['/a/./b', /segment 2 is "\."/],
    ['/%2e%2E/x', /segment 1 is "\.\."/],
    ['/%2E', /segment 1 is "\."/],
    ['/.git', /a name Git reserves/],
    ['/.git/config', /segment 1 is "\.git"/],
    ['/a/.GIT/x', /segment 2 is "\.GIT"/],
    ['/a/.Git', /Git reserves/],
    ['/%2Egit/x', /Git reserves/],
    ['/.git.', /Git reserves/], // NTFS drops trailing dots
    ['/GIT~1/x', /Git reserves/], // NTFS short name
    ['/.g%E2%80%8Cit', /Git reserves/], // HFS+ ignores U+200C
    ['/a%00b', /control character %00/],
    ['/a%0Ab', /control character %0A/],
    ['/a%1fb', /control character %1F/],
    ['/a%7Fb', /control character %7F/],
    ['/a%2Fb', /encoded "\/"/],
    ['/a%2fb/c', /encoded "\/"/],
    ['/%zz', /invalid percent-escape "%zz"/],
    ['/a%', /invalid percent-escape "%"/],
    ['/a%4', /invalid percent-escape "%4"/],
    ['/%ff', /not valid UTF-8/],
    ['/%C3', /not valid UTF-8/], // truncated sequence
    ['/%C0%AF', /not valid UTF-8/], // overlong "/"
    ['/%ED%A0%80', /not valid UTF-8/], // a UTF-16 surrogate
  ];
  for (const [raw, message] of cases) {
    let caught: unknown;
    try {
      parseResourcePath(raw);
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof PathError, `${JSON.stringify(raw)} is refused`);
    const e = caught as PathError;
    t.equal(e.status, 400, `${raw}: 400`);
    t.match(e.message, message, `${raw}: says why`);
    t.type(e.detail, 'string', `${raw}: says what to do`);
  }
});
