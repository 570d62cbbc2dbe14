// REST authentication: open without tokens; read-write and read-only tokens from the environment and from a file;
// 401/403 with WWW-Authenticate and a JSON error; /healthz always open, /metrics protected unless METRICS_PUBLIC;
// no token in any log line; every invalid token configuration is one ConfigError line that never echoes a token.
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { expectConfigError } from '../fixtures/config.js';
import { presentedToken, requiredAccess } from '../src/api/auth.js';
import { classify } from '../src/api/router.js';
import { loadConfig, parseTokenFile, redactedConfig, secretsOf } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { startServer } from '../src/api/server.js';
import { MemoryStore } from '../src/store/memory-store.js';

const RW = 'rw-Token_0123456789abcdef';
const RO = 'ro-Token_fedcba9876543210';
const RW2 = 'second.rw+token/with=chars~#';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The API over a MemoryStore with `env`; every log line is kept. */
async function start(t: { teardown(fn: () => unknown): void }, env: Record<string, string>) {
  const config = loadConfig({ BACKEND_TYPE: 'memory', ...env });
  const store = new MemoryStore();
  const lines: string[] = [];
  const running = await startServer(config, {
    store, host: '127.0.0.1', port: 0,
    logger: createLogger({ level: 'debug', write: (l) => lines.push(l), secrets: secretsOf(config) }),
  });
  const client = new Client(running.url);
  t.teardown(async () => {
    await client.close();
    await running.close();
  });
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Res> => {
    const r = await client.request({ method, path, headers, ...(body === undefined ? {} : { body }) });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  };
  return { store, lines, call, config };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const basic = (userPass: string) => ({ authorization: 'Basic ' + Buffer.from(userPass).toString('base64') });

function jsonError(res: Res): { error: string; detail?: string } {
  return JSON.parse(res.body.toString()) as { error: string; detail?: string };
}

t.test('no tokens configured: the API is open, whatever Authorization says', async (t) => {
  const api = await start(t, {});
  for (const headers of [{}, bearer('anything-at-all-0123456789'), { authorization: 'Garbage' }]) {
    const name = `/open-${api.store.commitCount}.json`;
    t.equal((await api.call('POST', name, headers, '{"a":1}')).status, 201);
    t.equal((await api.call('GET', name, headers)).body.toString(), '{"a":1}');
    t.equal((await api.call('PUT', name, headers, '{"a":2}')).status, 204);
    t.equal((await api.call('DELETE', name, headers)).status, 204);
    t.equal((await api.call('GET', '/metrics', headers)).status, 200);
  }
  t.equal(api.store.commitCount, 9);
});

t.test('a read-write token can read and write (Bearer, and Basic with the token as password)', async (t) => {
  const api = await start(t, { API_TOKENS_RW: `${RW}, ${RW2}`, API_TOKENS_RO: RO });
  const forms: Array<[string, Record<string, string>]> = [
    ['Bearer', bearer(RW)],
    ['second token', bearer(RW2)],
    ['lower-case scheme', { authorization: `bearer ${RW}` }],
    ['Basic, empty user (curl -u :token)', basic(`:${RW}`)],
    ['Basic, any user', basic(`someone:${RW}`)],
  ];
  for (const [what, headers] of forms) {
    const path = `/rw/${api.store.commitCount}.json`;
    t.equal((await api.call('POST', path, headers, 'one')).status, 201, `${what}: POST`);
    t.equal((await api.call('PUT', path, headers, 'two')).status, 204, `${what}: PUT`);
    const got = await api.call('GET', path, headers);
    t.equal(got.status, 200, `${what}: GET`);
    t.equal(got.body.toString(), 'two');
    t.equal((await api.call('HEAD', path, headers)).status, 200, `${what}: HEAD`);
    t.equal((await api.call('DELETE', path, headers)).status, 204, `${what}: DELETE`);
  }
  t.equal(api.store.commitCount, 3 * forms.length, 'every write was made');
  t.same(api.store.paths(), []);
});

t.test('a read-only token reads, and gets 403 for writes with nothing changed', async (t) => {
  const api = await start(t, { API_TOKENS_RW: RW, API_TOKENS_RO: RO });
  t.equal((await api.call('POST', '/doc.json', bearer(RW), '{"v":1}')).status, 201);
  const ro = bearer(RO);
  const got = await api.call('GET', '/doc.json', ro);
  t.equal(got.status, 200);
  t.equal(got.body.toString(), '{"v":1}');
  t.equal((await api.call('HEAD', '/doc.json', ro)).headers['content-length'], '7');
  t.equal((await api.call('OPTIONS', '/doc.json', ro)).status, 204);
  t.equal((await api.call('GET', '/missing', ro)).status, 404, 'a read-only token sees the usual 404');
  t.equal((await api.call('PATCH', '/doc.json', ro, 'x')).status, 405, 'and the usual 405');

  for (const [method, path, body] of [['POST', '/new.json', 'x'], ['PUT', '/doc.json', 'x'], ['DELETE', '/doc.json', undefined],
    ['POST', '/doc.json', 'x'], ['PUT', '/missing', 'x']] as const) {
    for (const headers of [ro, basic(`:${RO}`)]) {
      const res = await api.call(method, path, headers, body);
      t.equal(res.status, 403, `${method} ${path} with a read-only token → 403`);
      t.equal(res.headers['www-authenticate'], 'Bearer realm="gitrest", error="insufficient_scope"');
      t.match(res.headers['content-type'], /^application\/json/);
      t.match(jsonError(res), { error: `a read-only token cannot ${method}`, detail: /read-write token/ });
    }
  }
  t.equal(api.store.commitCount, 1, 'no write went through');
  t.equal((await api.call('GET', '/doc.json', ro)).body.toString(), '{"v":1}', 'the file is unchanged');
});

t.test('missing or invalid tokens: 401 with WWW-Authenticate, for every method and path', async (t) => {
  const api = await start(t, { API_TOKENS_RW: RW, API_TOKENS_RO: RO });
  t.equal((await api.call('POST', '/secret.json', bearer(RW), 'data')).status, 201);
  const invalid: Array<[string, Record<string, string>]> = [
    ['unknown token', bearer('not-a-configured-token-at-all')],
    ['a prefix of a token', bearer(RW.slice(0, -1))],
    ['a token plus a character', bearer(RW + 'x')],
    ['the token in another case', bearer(RW.toUpperCase())],
    ['empty Bearer', { authorization: 'Bearer ' }],
    ['two tokens', { authorization: `Bearer ${RW} ${RO}` }],
    ['unknown scheme', { authorization: `Token ${RW}` }],
    ['the token alone', { authorization: RW }],
    ['Basic with the token as user', basic(`${RW}:`)],
    ['Basic without a colon', basic(RW)],
    ['Basic with a wrong password', basic(`git:${RW}-nope`)],
  ];
  const requests: Array<[string, string, string | undefined]> = [
    ['GET', '/secret.json', undefined], ['HEAD', '/secret.json', undefined], ['GET', '/missing', undefined],
    ['POST', '/x.json', 'x'], ['PUT', '/secret.json', 'x'], ['DELETE', '/secret.json', undefined],
    ['OPTIONS', '/secret.json', undefined], ['PATCH', '/secret.json', 'x'], ['GET', '/a//b', undefined],
  ];
  for (const [method, path, body] of requests) {
    const none = await api.call(method, path, {}, body);
    t.equal(none.status, 401, `${method} ${path} without a token → 401 (before 404/405/400)`);
    t.equal(none.headers['www-authenticate'], 'Bearer realm="gitrest"');
    if (method !== 'HEAD') t.match(jsonError(none), { error: 'an API token is required', detail: /Authorization: Bearer/ });
    for (const [what, headers] of invalid) {
      const res = await api.call(method, path, headers, body);
      t.equal(res.status, 401, `${method} ${path}, ${what} → 401`);
      t.equal(res.headers['www-authenticate'], 'Bearer realm="gitrest", error="invalid_token"');
      if (method !== 'HEAD') {
        t.match(jsonError(res), { error: 'the API token is not valid' });
        t.notOk(res.body.toString().includes(RW), 'the answer never echoes a token');
      }
    }
  }
  t.equal(api.store.commitCount, 1, 'nothing was written');
  t.same(api.store.paths(), ['secret.json']);
});

t.test('/healthz is always open; /metrics needs a token unless METRICS_PUBLIC=true', async (t) => {
  const closed = await start(t, { API_TOKENS_RO: RO, API_TOKENS_RW: RW });
  t.equal((await closed.call('GET', '/healthz')).status, 200);
  t.equal((await closed.call('HEAD', '/healthz', bearer('wrong-token-0123456789'))).status, 200, 'even with a bad token');
  const denied = await closed.call('GET', '/metrics');
  t.equal(denied.status, 401);
  t.equal(denied.headers['www-authenticate'], 'Bearer realm="gitrest"');
  t.notMatch(denied.body.toString(), /request_count/, 'no metrics leak');
  t.equal((await closed.call('GET', '/metrics?x=1', bearer('wrong-token-0123456789'))).status, 401);
  for (const token of [RO, RW]) {
    const ok = await closed.call('GET', '/metrics', bearer(token));
    t.equal(ok.status, 200, 'either kind of token reads /metrics');
    t.match(ok.body.toString(), /^# HELP server_uptime/m);
  }
  t.equal((await closed.call('POST', '/metrics', bearer(RO), 'x')).status, 405, 'a token does not make /metrics writable');

  const open = await start(t, { API_TOKENS_RW: RW, METRICS_PUBLIC: 'true' });
  const scraped = await open.call('GET', '/metrics');
  t.equal(scraped.status, 200, 'METRICS_PUBLIC=true: no token needed');
  t.match(scraped.body.toString(), /^# TYPE request_count counter$/m);
  t.equal((await open.call('GET', '/x.json')).status, 401, 'but resources still need one');
  t.equal((await open.call('POST', '/x.json', {}, 'x')).status, 401);
  t.equal(open.store.commitCount, 0);
});

t.test('tokens never appear in a log line', async (t) => {
  const api = await start(t, { API_TOKENS_RW: RW, API_TOKENS_RO: RO });
  // Tokens where a careless client might put them: in the path, the query, and as a wrong credential.
  await api.call('POST', `/logs/${RW}.json`, bearer(RW), 'x');
  await api.call('GET', `/logs/${RW}.json?token=${RO}`, bearer(RO));
  await api.call('GET', `/${encodeURIComponent(RO)}`, bearer(RO));
  await api.call('PUT', `/logs/${RW}.json`, bearer(RO), 'y');
  await api.call('GET', '/logs/x', bearer(`${RO}x`));
  await api.call('GET', '/logs/x', basic(`:${RW}`));
  for (let i = 0; i < 100 && api.lines.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(api.lines.length, 6, 'one line per request');
  const statuses = api.lines.map((l) => (JSON.parse(l) as { status: number }).status);
  t.same(statuses, [201, 200, 404, 403, 401, 404]);
  for (const l of api.lines) {
    t.notOk(l.includes(RW), 'no read-write token');
    t.notOk(l.includes(RO), 'no read-only token');
  }
  t.match(api.lines[0], /"path":"logs\/\[redacted\]\.json"/, 'a token in a path is redacted');

  const shown = JSON.stringify(redactedConfig(api.config));
  t.notOk(shown.includes(RW) || shown.includes(RO), 'the startup config line has no token');
  t.match(redactedConfig(api.config), { apiTokens: { rw: 1, ro: 1 } }, 'only how many of each');
  t.ok(secretsOf(api.config).includes(RW) && secretsOf(api.config).includes(RO), 'both tokens are logger secrets');
  t.ok(secretsOf(loadConfig({ API_TOKENS_RW: RW2 })).includes(encodeURIComponent(RW2)), 'and their URL-encoded form');
});

t.test('tokens from a file, alone or with the environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gitrest-tokens-'));
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })));
  const file = join(dir, 'tokens');
  writeFileSync(file, [
    '# gitrest API tokens', '', `rw ${RW}`, `  ro\t${RO}  `, '   # an indented comment', `rw ${RW2}`, '',
  ].join('\r\n'));
  const c = loadConfig({ API_TOKENS_FILE: file });
  t.same(c.apiTokens, [{ token: RW, access: 'rw' }, { token: RO, access: 'ro' }, { token: RW2, access: 'rw' }],
    'CRLF, blank lines, comments, tabs and padding are fine; a token may hold "#"');
  t.same(loadConfig({ API_TOKENS_FILE: file, API_TOKENS_RW: RW }).apiTokens.length, 3, 'a repeat with the same access is fine');
  t.same(parseTokenFile('# none\n\n', 'F'), []);

  const api = await start(t, { API_TOKENS_FILE: file, API_TOKENS_RO: 'env-ro-token-0123456789' });
  t.equal((await api.call('POST', '/f.json', bearer(RW2), 'file')).status, 201, 'a file rw token writes');
  t.equal((await api.call('PUT', '/f.json', bearer(RO), 'x')).status, 403, 'a file ro token cannot');
  t.equal((await api.call('GET', '/f.json', bearer(RO))).status, 200, 'but reads');
  t.equal((await api.call('GET', '/f.json', bearer('env-ro-token-0123456789'))).status, 200, 'env tokens too');
  t.equal((await api.call('GET', '/f.json')).status, 401);
});

t.test('invalid token configuration: one ConfigError line that names the source and never echoes a token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gitrest-tokens-'));
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const subdir = join(dir, 'a-directory');
  mkdirSync(subdir);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ API_TOKENS_RW: `${RW},` }, /^API_TOKENS_RW entry 2 is an empty token; remove the stray comma/],
    [{ API_TOKENS_RO: `,${RO}` }, /^API_TOKENS_RO entry 1 is an empty token/],
    [{ API_TOKENS_RW: `${RW},,${RW2}` }, /^API_TOKENS_RW entry 2 is an empty token/],
    [{ API_TOKENS_RW: 'short' }, /^API_TOKENS_RW entry 1 is shorter than 16 characters/],
    [{ API_TOKENS_RW: `${RW} ${RO}` }, /^API_TOKENS_RW entry 1 has a space, comma, control or non-ASCII character/],
    [{ API_TOKENS_RO: 'tökenwithumlaut-0123456789' }, /^API_TOKENS_RO entry 1 has a space/],
    [{ API_TOKENS_RW: RW, API_TOKENS_RO: RW }, /^API_TOKENS_RO entry 1 is also configured as a read-write token/],
    [{ API_TOKENS_FILE: join(dir, 'missing') }, /^API_TOKENS_FILE ".*missing" cannot be read \(ENOENT\); point it at/],
    [{ API_TOKENS_FILE: subdir }, /^API_TOKENS_FILE ".*a-directory" cannot be read \(EISDIR\)/],
    [{ API_TOKENS_FILE: file('empty', '# only a comment\n\n') }, /^API_TOKENS_FILE ".*empty" holds no tokens; add/],
    [{ API_TOKENS_FILE: file('bad-access', `# ok\nadmin ${RW}\n`) },
      /^API_TOKENS_FILE ".*bad-access" line 2 is not "rw <token>" or "ro <token>"; fix it or make it a # comment$/],
    [{ API_TOKENS_FILE: file('bare', `${RW}\n`) }, /^API_TOKENS_FILE ".*bare" line 1 is not "rw <token>"/],
    [{ API_TOKENS_FILE: file('no-token', 'rw\n') }, /^API_TOKENS_FILE ".*no-token" line 1 is not "rw <token>"/],
    [{ API_TOKENS_FILE: file('two', `ro ${RO} ${RW}\n`) }, /^API_TOKENS_FILE ".*two" line 1 has a space/],
    [{ API_TOKENS_FILE: file('upper', `RW ${RW}\n`) }, /^API_TOKENS_FILE ".*upper" line 1 is not/],
    [{ API_TOKENS_FILE: file('trailing', `rw ${RW} # comment\n`) }, /^API_TOKENS_FILE ".*trailing" line 1 has a space/],
    [{ API_TOKENS_FILE: file('both', `rw ${RW}\nro ${RW}\n`) },
      /^a token in API_TOKENS_FILE \(line 2\) is also configured as a read-write token; give each token one access level$/],
  ];
  for (const [env, message] of cases) {
    const msg = expectConfigError(t, env, message);
    for (const token of [RW, RO, RW2]) t.notOk(msg.includes(token), 'no token in the message');
  }
  t.same(loadConfig({ API_TOKENS_RW: '', API_TOKENS_RO: '  ', API_TOKENS_FILE: '' }).apiTokens, [],
    'empty variables count as unset');
});

t.test('pure parts: which access a request needs, which token a header carries', async (t) => {
  t.equal(requiredAccess('GET', classify('/healthz'), false), 'none');
  t.equal(requiredAccess('POST', classify('/healthz'), false), 'none');
  t.equal(requiredAccess('GET', classify('/readyz?x'), false), 'none');
  t.equal(requiredAccess('GET', classify('/metrics'), false), 'ro');
  t.equal(requiredAccess('GET', classify('/metrics?x'), true), 'none');
  t.equal(requiredAccess('GET', classify('/metrics/x'), true), 'ro', 'a resource under /metrics is a resource');
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE']) t.equal(requiredAccess(m, classify('/a'), false), 'ro', m);
  for (const m of ['POST', 'PUT', 'DELETE']) t.equal(requiredAccess(m, classify('/a?b'), true), 'rw', m);

  t.equal(presentedToken(undefined), undefined);
  t.equal(presentedToken('Bearer abc'), 'abc');
  t.equal(presentedToken('BEARER   abc  '), 'abc');
  t.equal(presentedToken('Bearer'), undefined);
  t.equal(presentedToken('Bearer a b'), undefined);
  t.equal(presentedToken('Basic ' + Buffer.from('u:p:with:colons').toString('base64')), 'p:with:colons');
  t.equal(presentedToken('Basic ' + Buffer.from('u:').toString('base64')), undefined);
  t.equal(presentedToken('Basic !!!'), undefined);
  t.equal(presentedToken('Digest abc'), undefined);
});
