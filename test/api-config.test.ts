// loadConfig: defaults, every variable, credentials from all sources, and one clear line per invalid value.
import t from 'tap';
import { resolve } from 'node:path';
import { expectConfigError } from '../fixtures/config.js';
import {
  basicAuthHeader, formatCommitMessage, loadConfig, redact, redactedConfig, secretsOf,
} from '../src/api/config.js';
import type { GitStoreOptions } from '../src/store/git-store.js';

t.test('defaults', async (t) => {
  const c = loadConfig({});
  t.same(c, {
    port: 8080,
    host: '127.0.0.1',
    loopbackByDefault: true,
    backendType: 'git',
    gitBranch: 'main',
    authorName: 'gitrest',
    authorEmail: 'gitrest@localhost',
    commitMessageTemplate: '{method} {path}',
    maxBodyBytes: 100 * 1024 * 1024,
    gitTimeoutMs: 30_000,
    requestTimeoutMs: 300_000,
    headersTimeoutMs: 30_000,
    bodyIdleTimeoutMs: 30_000,
    readyTimeoutMs: 2_000,
    shutdownGraceMs: 10_000,
    contentTypeMode: 'json',
    maxCommitOperations: 1000,
    idempotencyWindow: 1000,
    gitVerifyPush: false,
    packCompression: 'auto',
    writeDeadlineMs: 30_000,
    dataDir: resolve('./data'),
    logLevel: 'info',
    apiTokens: [],
    metricsPublic: false,
    cacheBytes: 16 * 1024 * 1024,
    cacheDiskBytes: 1024 * 1024 * 1024,
    cacheDir: resolve('./data/blob-cache'),
    spoolThresholdBytes: 1024 * 1024,
    watchPollMs: 1000,
    maxWatchers: 100,
    watchHeartbeatMs: 15_000,
  });
  t.equal(formatCommitMessage(c.commitMessageTemplate, 'POST', 'users/alice.json'), 'POST users/alice.json');
  // Empty variables (as docker-compose leaves them) count as unset.
  t.same(loadConfig({ PORT: '', BACKEND_TYPE: ' ', GIT_REPO_URL: '' }), c);
});

t.test('every variable is read', async (t) => {
  const c = loadConfig({
    PORT: '9000', HOST: '127.0.0.1', BACKEND_TYPE: 'MEMORY', GIT_REPO_URL: 'https://git.example.com/o/r.git',
    GIT_BRANCH: 'data/v1', GIT_AUTHOR_NAME: 'Bot', GIT_AUTHOR_EMAIL: 'bot@example.com',
    GIT_COMMIT_MESSAGE: 'api: {method} {path} ({method})', MAX_BODY_BYTES: '1024', GIT_TIMEOUT_MS: '500',
    REQUEST_TIMEOUT_MS: '0', SHUTDOWN_GRACE_MS: '250', DATA_DIR: '/var/lib/gitrest', LOG_LEVEL: 'warn',
    HEADERS_TIMEOUT_MS: '400', BODY_IDLE_TIMEOUT_MS: '0', API_TOKENS_RW: 'rw-token-0123456789', METRICS_PUBLIC: 'TRUE',
    CACHE_BYTES: '0', SPOOL_THRESHOLD_BYTES: '4096', READY_TIMEOUT_MS: '700', EMBEDDED_GIT_PORT: '9418',
    CONTENT_TYPE_MODE: 'extension', COMMIT_MAX_OPERATIONS: '10', IDEMPOTENCY_WINDOW: '50', GIT_VERIFY_PUSH: 'true', GIT_PACK_COMPRESSION: '6', WRITE_DEADLINE_MS: '9000',
    WATCH_POLL_MS: '250', MAX_WATCHERS: '7', WATCH_HEARTBEAT_MS: '5000',
  });
  t.same(c, {
    port: 9000, host: '127.0.0.1', backendType: 'memory', gitRepoUrl: 'https://git.example.com/o/r.git',
    gitBranch: 'data/v1', authorName: 'Bot', authorEmail: 'bot@example.com',
    commitMessageTemplate: 'api: {method} {path} ({method})', maxBodyBytes: 1024, gitTimeoutMs: 500,
    requestTimeoutMs: 0, shutdownGraceMs: 250, contentTypeMode: 'extension', maxCommitOperations: 10, idempotencyWindow: 50, gitVerifyPush: true, packCompression: 6, writeDeadlineMs: 9000, dataDir: '/var/lib/gitrest', logLevel: 'warn',
    headersTimeoutMs: 400, bodyIdleTimeoutMs: 0, apiTokens: [{ token: 'rw-token-0123456789', access: 'rw' }],
    metricsPublic: true, cacheBytes: 0, cacheDiskBytes: 1024 * 1024 * 1024, spoolThresholdBytes: 4096, readyTimeoutMs: 700, embeddedGitPort: 9418,
    watchPollMs: 250, maxWatchers: 7, watchHeartbeatMs: 5000, loopbackByDefault: false,
  });
  t.equal(formatCommitMessage(c.commitMessageTemplate, 'PUT', 'a/b'), 'api: PUT a/b (PUT)');
  t.equal(loadConfig({ PORT: '0' }).port, 0, 'port 0 (any free port) is allowed');
  t.equal(loadConfig({ GIT_REPO_URL: 'https://h/r.git' }).host, undefined, 'a remote repository: all interfaces');
  t.equal(loadConfig({ API_TOKENS_RW: 'rw-token-0123456789' }).host, undefined, 'tokens: all interfaces');
  t.equal(loadConfig({ HOST: '::' }).host, '::', 'HOST wins');
  t.equal(loadConfig({ HOST: '[::1]' }).host, '::1');
  t.equal(loadConfig({ HOST: 'localhost' }).host, 'localhost');
});

t.test('invalid values: a ConfigError whose message is one line naming the variable', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ PORT: 'http' }, /^PORT must be a whole number from 0 to 65535 \(got "http"\)/],
    [{ PORT: '65536' }, /^PORT /],
    [{ PORT: '-1' }, /^PORT /],
    [{ PORT: '80.5' }, /^PORT /],
    [{ HOST: 'no such host' }, /^HOST must be an IP address or a host name/],
    [{ HOST: 'a:b' }, /^HOST /],
    [{ EMBEDDED_GIT_PORT: '0' }, /^EMBEDDED_GIT_PORT must be a whole number from 1 to 65535/],
    [{ READY_TIMEOUT_MS: '0' }, /^READY_TIMEOUT_MS /],
    [{ BACKEND_TYPE: 'sqlite' }, /^BACKEND_TYPE must be one of git, memory \(got "sqlite"\)/],
    [{ GIT_REPO_URL: 'not a url' }, /^GIT_REPO_URL is not a valid URL; set it to/],
    [{ GIT_REPO_URL: 'ssh://git@github.com/o/r.git' }, /^GIT_REPO_URL must be an http:\/\/ or https:\/\/ URL/],
    [{ GIT_REPO_URL: 'https://u:%zz@h/r.git' }, /^GIT_REPO_URL has badly percent-encoded credentials/],
    [{ GIT_BRANCH: 'a..b' }, /^GIT_BRANCH "a\.\.b" is not a valid Git branch name/],
    [{ GIT_BRANCH: 'x.lock' }, /^GIT_BRANCH /],
    [{ GIT_BRANCH: 'a b' }, /^GIT_BRANCH /],
    [{ GIT_BRANCH: '-x' }, /^GIT_BRANCH /],
    [{ GIT_BRANCH: 'a/.b' }, /^GIT_BRANCH /],
    [{ GIT_BRANCH: 'a@{1}' }, /^GIT_BRANCH /],
    [{ GIT_AUTHOR_NAME: 'Evil <x>' }, /^GIT_AUTHOR_NAME must not contain/],
    [{ GIT_AUTHOR_EMAIL: 'a@b\nc' }, /^GIT_AUTHOR_EMAIL must not contain/],
    [{ MAX_BODY_BYTES: '10MB' }, /^MAX_BODY_BYTES must be a whole number/],
    [{ MAX_BODY_BYTES: '0' }, /^MAX_BODY_BYTES /],
    [{ GIT_TIMEOUT_MS: '0' }, /^GIT_TIMEOUT_MS /],
    [{ REQUEST_TIMEOUT_MS: 'soon' }, /^REQUEST_TIMEOUT_MS /],
    [{ SHUTDOWN_GRACE_MS: '1e3' }, /^SHUTDOWN_GRACE_MS /],
    [{ CONTENT_TYPE_MODE: 'mime' }, /^CONTENT_TYPE_MODE /],
    [{ GIT_PACK_COMPRESSION: 'best' }, /^GIT_PACK_COMPRESSION /],
    [{ GIT_PACK_COMPRESSION: '10' }, /^GIT_PACK_COMPRESSION /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of debug, info, warn, error, silent/],
    [{ GIT_PASSWORD: 'p', GIT_TOKEN: 't' }, /^GIT_PASSWORD and GIT_TOKEN are both set; set only one/],
    [{ GIT_USERNAME: 'alice' }, /^GIT_USERNAME is set without a password; also set GIT_PASSWORD or GIT_TOKEN/],
    [{ HEADERS_TIMEOUT_MS: '0' }, /^HEADERS_TIMEOUT_MS must be a whole number from 1 /],
    [{ BODY_IDLE_TIMEOUT_MS: '30s' }, /^BODY_IDLE_TIMEOUT_MS must be a whole number/],
    [{ CACHE_BYTES: '32MiB' }, /^CACHE_BYTES must be a whole number/],
    [{ SPOOL_THRESHOLD_BYTES: '-1' }, /^SPOOL_THRESHOLD_BYTES must be a whole number/],
    [{ WATCH_POLL_MS: '5' }, /^WATCH_POLL_MS must be a whole number from 10 /],
    [{ MAX_WATCHERS: 'lots' }, /^MAX_WATCHERS must be a whole number/],
    [{ WATCH_HEARTBEAT_MS: '0' }, /^WATCH_HEARTBEAT_MS must be a whole number from 10 /],
    [{ METRICS_PUBLIC: 'maybe' }, /^METRICS_PUBLIC must be true or false \(got "maybe"\)/],
  ];
  for (const [env, message] of cases) expectConfigError(t, env, message);
});

t.test('a GIT_REPO_URL is never echoed in an error (it may hold a token)', async (t) => {
  t.throws(() => loadConfig({ GIT_REPO_URL: 'ftp://user:s3cret-token@host/r.git' }), { message: /ftp:/ });
  try {
    loadConfig({ GIT_REPO_URL: 'ftp://user:s3cret-token@host/r.git' });
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret-token/);
  }
});

t.test('credentials', async (t) => {
  const url = 'https://git.example.com/o/r.git';
  t.equal(loadConfig({ GIT_REPO_URL: url }).credentials, undefined, 'none by default');

  const legacy = loadConfig({ GIT_REPO_URL: url, TEST_GITHUB_PAT_TOKEN: 'ghp_legacy' });
  t.same(legacy.credentials, { username: 'git', password: 'ghp_legacy' }, 'earlier server: basic auth git:<token>');
  t.equal(basicAuthHeader(legacy.credentials!), 'Basic ' + Buffer.from('git:ghp_legacy').toString('base64'));

  t.same(loadConfig({ GIT_TOKEN: 'tok' }).credentials, { username: 'git', password: 'tok' });
  t.same(loadConfig({ GIT_USERNAME: 'bot', GIT_TOKEN: 'tok' }).credentials, { username: 'bot', password: 'tok' });
  t.same(loadConfig({ GIT_USERNAME: 'bot', GIT_PASSWORD: 'pw' }).credentials, { username: 'bot', password: 'pw' });
  t.same(loadConfig({ GIT_PASSWORD: 'pw', TEST_GITHUB_PAT_TOKEN: 'old' }).credentials, { username: 'git', password: 'pw' },
    'the properly named variables win over the legacy one');

  // Userinfo in the URL becomes the credentials and is removed from the URL.
  const withInfo = loadConfig({ GIT_REPO_URL: 'https://alice:p%40ss%3Aword@git.example.com:8443/o/r.git?x=1' });
  t.equal(withInfo.gitRepoUrl, 'https://git.example.com:8443/o/r.git?x=1');
  t.same(withInfo.credentials, { username: 'alice', password: 'p@ss:word' });
  const tokenOnly = loadConfig({ GIT_REPO_URL: 'https://ghp_abc@github.com/o/r.git' });
  t.equal(tokenOnly.gitRepoUrl, 'https://github.com/o/r.git');
  t.same(tokenOnly.credentials, { username: 'ghp_abc', password: '' });
  t.same(loadConfig({ GIT_REPO_URL: 'https://u:urlpw@h/r.git', GIT_TOKEN: 'envtok' }).credentials,
    { username: 'u', password: 'envtok' }, 'an explicit GIT_TOKEN wins over URL userinfo; its user is kept');
  t.same(loadConfig({ GIT_REPO_URL: 'https://u:urlpw@h/r.git', GIT_USERNAME: 'v' }).credentials,
    { username: 'v', password: 'urlpw' });
  t.same(loadConfig({ GIT_REPO_URL: 'https://u:urlpw@h/r.git', TEST_GITHUB_PAT_TOKEN: 'old' }).credentials,
    { username: 'u', password: 'urlpw' }, 'URL userinfo wins over the legacy variable');
});

t.test('redaction: the secret never survives redactedConfig / redact', async (t) => {
  const c = loadConfig({ GIT_REPO_URL: 'https://bot:Sup3r%2Bsecret@h/r.git' });
  t.equal(c.credentials?.password, 'Sup3r+secret');
  const shown = JSON.stringify(redactedConfig(c));
  t.notMatch(shown, /Sup3r/);
  t.match(shown, /"username":"bot"/);
  t.match(shown, /"gitRepoUrl":"https:\/\/h\/r\.git"/);

  const secrets = secretsOf(c);
  const header = basicAuthHeader(c.credentials!);
  const text = `url https://bot:Sup3r%2Bsecret@h plain Sup3r+secret header ${header}`;
  const clean = redact(text, secrets);
  t.notMatch(clean, /Sup3r/);
  t.notOk(clean.includes(header.slice(6)), 'the base64 form is gone too');
  t.equal(clean, 'url https://bot:[redacted]@h plain [redacted] header Basic [redacted]');

  // A token used as the URL's username is the secret itself.
  const tok = loadConfig({ GIT_REPO_URL: 'https://ghp_TOKEN123@github.com/o/r.git' });
  t.notMatch(JSON.stringify(redactedConfig(tok)), /ghp_TOKEN123/);
  t.equal(redact('x ghp_TOKEN123 y', secretsOf(tok)), 'x [redacted] y');
  t.same(secretsOf(loadConfig({})), []);
});

t.test('the Git store gets CACHE_BYTES and SPOOL_THRESHOLD_BYTES', async (t) => {
  const made: GitStoreOptions[] = [];
  const { createGitStore } = await t.mockImport<typeof import('../src/api/git-backend.js')>('../src/api/git-backend.js', {
    '../src/store/git-store.js': {
      GitStore: class {
        constructor(opts: GitStoreOptions) {
          made.push(opts);
        }
      },
    },
  });
  createGitStore(loadConfig({}), 'http://127.0.0.1:1/r.git');
  createGitStore(loadConfig({ CACHE_BYTES: '1000', SPOOL_THRESHOLD_BYTES: '0', MAX_BODY_BYTES: '5000' }), 'http://h/r.git');
  t.match(made[0], { cacheBytes: 16 * 1024 * 1024, spoolThresholdBytes: 1024 * 1024, remote: { url: 'http://127.0.0.1:1/r.git' } });
  t.match(made[1], { cacheBytes: 1000, spoolThresholdBytes: 0, maxBodyBytes: 5000 });
  createGitStore(loadConfig({ CACHE_DISK_BYTES: '0', CACHE_DIR: '/var/cache/g' }), 'http://h/r.git');
  t.match(made[2], { cacheDiskBytes: 0, cacheDir: '/var/cache/g' });
  createGitStore(loadConfig({ GIT_REPO_URL: 'http://h/r.git' }), 'http://h/r.git');
  t.notOk('cacheDir' in made[3]!, 'a remote repository without CACHE_DIR: the store picks the directory');
});
