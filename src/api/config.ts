// Reads the server's configuration from the environment. Every invalid value is reported as a ConfigError whose
// message is one line naming the variable and what to set. Credentials never leave this module in clear text
// except through `credentials` and `apiTokens` themselves: log `redactedConfig(config)` instead of `config`.

import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { BasicCredentials } from '../protocol/http.js';
import { type PacketTraceTarget, packetTraceTarget } from '../protocol/packet-trace.js';
import { DEFAULT_CACHE_BYTES, DEFAULT_CACHE_DISK_BYTES, DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_MAX_BODY_BYTES, DEFAULT_SPOOL_THRESHOLD_BYTES,
  DEFAULT_WATCH_POLL_MS, DEFAULT_WRITE_DEADLINE_MS, EMBEDDED_CACHE_DIR,
} from '../store/options.js';
import { CONTENT_TYPE_MODES, type ContentTypeMode } from './content-type.js';
import { ConfigError, type Getter } from './config-error.js';
import { apiTokens, type ApiToken, type TokenAccess } from './token-config.js';
import { MAX_OPERATIONS } from '../store/transaction.js';
import type { BlobCompression } from '../pack/pack-writer.js';

export { DEFAULT_MAX_BODY_BYTES, ConfigError };
export { MIN_TOKEN_LENGTH, parseTokenFile, type ApiToken, type TokenAccess } from './token-config.js';

export type BackendType = 'git' | 'memory';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Config {
  port: number;
  /** Interface to listen on; undefined = all interfaces. See `loopbackByDefault`. */
  host?: string;
  /**
   * True when HOST is unset and the API listens on 127.0.0.1 because nothing protects it: the embedded default
   * repository (no GIT_REPO_URL) and no API tokens. With GIT_REPO_URL set the default stays all interfaces.
   */
  loopbackByDefault: boolean;
  backendType: BackendType;
  /** Smart-HTTP URL of the repository, with any userinfo removed (see `credentials`). Unset = embedded default. */
  gitRepoUrl?: string;
  gitBranch: string;
  /** Basic-auth credentials for the Git host. */
  credentials?: BasicCredentials;
  authorName: string;
  authorEmail: string;
  /** Commit message with `{method}` and `{path}` placeholders; see formatCommitMessage. */
  commitMessageTemplate: string;
  maxBodyBytes: number;
  /** Bound on each exchange with the Git host. */
  gitTimeoutMs: number;
  /** A write is answered within this, its retries (lost races, a failing host) included. */
  writeDeadlineMs: number;
  /** Bound on receiving a whole request (Node's server.requestTimeout); 0 disables. */
  requestTimeoutMs: number;
  /** Bound on receiving the request line and headers (Node's server.headersTimeout). */
  headersTimeoutMs: number;
  /** How long the API waits for the next piece of a request body before answering 408; 0 disables. */
  bodyIdleTimeoutMs: number;
  /** Bound on the ref lookup behind /readyz. */
  readyTimeoutMs: number;
  /** How long a graceful shutdown waits for in-flight requests. */
  shutdownGraceMs: number;
  /** Most operations in one POST /_commit. */
  maxCommitOperations: number;
  /** How a file's Content-Type is chosen (see content-type.ts). */
  contentTypeMode: ContentTypeMode;
  /** Where the embedded default repository lives when GIT_REPO_URL is unset. Absolute. */
  dataDir: string;
  /** Port of the embedded Git server; undefined = the one it used last time (kept in DATA_DIR), else a free one. */
  embeddedGitPort?: number;
  logLevel: LogLevel;
  /** Tokens the REST API accepts; empty = the API is open to anyone who can reach it. */
  apiTokens: ApiToken[];
  /** Serve /metrics without a token even when tokens are configured. */
  metricsPublic: boolean;
  /** Bound on the Git store's cache of immutable objects, in bytes. */
  cacheBytes: number;
  /** Bound on the disk cache of large blobs, in bytes; 0 turns it off. */
  cacheDiskBytes: number;
  /**
   * CACHE_DIR: the disk cache's directory. Unset: `blob-cache` under DATA_DIR for the embedded default repository;
   * for GIT_REPO_URL left to the store (a per-repository directory under the system's temp dir).
   */
  cacheDir?: string;
  /** GIT_PACK_COMPRESSION: 'auto', or a zlib level for the blobs of every push (see GitStoreOptions.packCompression). */
  packCompression: 'auto' | BlobCompression;
  /** Confirm every accepted push with a ref lookup before answering (for hosts that acknowledge what they drop). */
  gitVerifyPush: boolean;
  /** First-parent commits in which an Idempotency-Key is looked for. */
  idempotencyWindow: number;
  /** Request bodies larger than this are spooled to a temporary file instead of held in memory. */
  spoolThresholdBytes: number;
  /** How often the change feed (GET /_watch) looks up the branch tip while anyone watches. */
  watchPollMs: number;
  /** Most /_watch streams open at once; more are answered 503. */
  maxWatchers: number;
  /** Interval of the heartbeat comment on every /_watch stream. */
  watchHeartbeatMs: number;
  /** GIT_TRACE_PACKET: where every pkt-line exchanged with the Git host is traced; unset = off. */
  packetTrace?: PacketTraceTarget;
}

export const DEFAULT_COMMIT_MESSAGE = '{method} {path}';
const MAX_MS = 2 ** 31 - 1;

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const backendType = oneOf(get, 'BACKEND_TYPE', ['git', 'memory'] as const, 'git');
  const { url: gitRepoUrl, userinfo } = repoUrl(get('GIT_REPO_URL'));
  const config: Config = {
    port: integer(get, 'PORT', 8080, 0, 65535),
    backendType,
    gitBranch: branch(get('GIT_BRANCH') ?? 'main'),
    authorName: identity(get, 'GIT_AUTHOR_NAME', 'gitrest'),
    authorEmail: identity(get, 'GIT_AUTHOR_EMAIL', 'gitrest@localhost'),
    commitMessageTemplate: env.GIT_COMMIT_MESSAGE?.trim() || DEFAULT_COMMIT_MESSAGE,
    maxBodyBytes: integer(get, 'MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 1, Number.MAX_SAFE_INTEGER),
    gitTimeoutMs: integer(get, 'GIT_TIMEOUT_MS', 30_000, 1, MAX_MS),
    writeDeadlineMs: integer(get, 'WRITE_DEADLINE_MS', DEFAULT_WRITE_DEADLINE_MS, 1, MAX_MS),
    requestTimeoutMs: integer(get, 'REQUEST_TIMEOUT_MS', 300_000, 0, MAX_MS),
    headersTimeoutMs: integer(get, 'HEADERS_TIMEOUT_MS', 30_000, 1, MAX_MS),
    bodyIdleTimeoutMs: integer(get, 'BODY_IDLE_TIMEOUT_MS', 30_000, 0, MAX_MS),
    readyTimeoutMs: integer(get, 'READY_TIMEOUT_MS', 2_000, 1, MAX_MS),
    shutdownGraceMs: integer(get, 'SHUTDOWN_GRACE_MS', 10_000, 0, MAX_MS),
    contentTypeMode: oneOf(get, 'CONTENT_TYPE_MODE', CONTENT_TYPE_MODES, 'json'),
    maxCommitOperations: integer(get, 'COMMIT_MAX_OPERATIONS', MAX_OPERATIONS, 1, 100_000),
    dataDir: resolve(get('DATA_DIR') ?? './data'),
    logLevel: oneOf(get, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    apiTokens: apiTokens(get),
    metricsPublic: flag(get, 'METRICS_PUBLIC', false),
    cacheBytes: integer(get, 'CACHE_BYTES', DEFAULT_CACHE_BYTES, 0, Number.MAX_SAFE_INTEGER),
    cacheDiskBytes: integer(get, 'CACHE_DISK_BYTES', DEFAULT_CACHE_DISK_BYTES, 0, Number.MAX_SAFE_INTEGER),
    gitVerifyPush: flag(get, 'GIT_VERIFY_PUSH', false),
    packCompression: packCompression(get),
    idempotencyWindow: integer(get, 'IDEMPOTENCY_WINDOW', DEFAULT_IDEMPOTENCY_WINDOW, 1, 100_000),
    spoolThresholdBytes: integer(get, 'SPOOL_THRESHOLD_BYTES', DEFAULT_SPOOL_THRESHOLD_BYTES, 0, Number.MAX_SAFE_INTEGER),
    watchPollMs: integer(get, 'WATCH_POLL_MS', DEFAULT_WATCH_POLL_MS, 10, MAX_MS),
    maxWatchers: integer(get, 'MAX_WATCHERS', 100, 0, 100_000),
    watchHeartbeatMs: integer(get, 'WATCH_HEARTBEAT_MS', 15_000, 10, MAX_MS),
    loopbackByDefault: false,
  };
  config.loopbackByDefault = get('HOST') === undefined && backendType === 'git' && gitRepoUrl === undefined &&
    config.apiTokens.length === 0;
  const host = get('HOST');
  if (host !== undefined) config.host = checkHost(host);
  else if (config.loopbackByDefault) config.host = '127.0.0.1';
  const gitPort = get('EMBEDDED_GIT_PORT');
  if (gitPort !== undefined) config.embeddedGitPort = integer(get, 'EMBEDDED_GIT_PORT', 0, 1, 65535);
  if (gitRepoUrl !== undefined) config.gitRepoUrl = gitRepoUrl;
  const cacheDir = get('CACHE_DIR');
  if (cacheDir !== undefined) config.cacheDir = resolve(cacheDir);
  else if (gitRepoUrl === undefined && backendType === 'git') config.cacheDir = join(config.dataDir, EMBEDDED_CACHE_DIR);
  const credentials = pickCredentials(get, userinfo);
  if (credentials !== undefined) config.credentials = credentials;
  try {
    const packetTrace = packetTraceTarget(get('GIT_TRACE_PACKET'));
    if (packetTrace !== undefined) config.packetTrace = packetTrace;
  } catch (err) {
    throw new ConfigError(`GIT_TRACE_PACKET: ${(err as Error).message} (got ${JSON.stringify(get('GIT_TRACE_PACKET'))})`);
  }
  return config;
}

/** `{method}` and `{path}` in the template are replaced; e.g. the default gives "POST users/alice.json". */
export function formatCommitMessage(template: string, method: string, path: string): string {
  return template.replaceAll('{method}', method).replaceAll('{path}', path);
}

/** The value of an `Authorization` header for the Git host. */
export function basicAuthHeader(c: BasicCredentials): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64');
}

/** The config with secrets replaced, safe to log. API tokens are shown only as how many of each kind. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const { credentials, apiTokens, ...rest } = config;
  const count = (access: TokenAccess) => apiTokens.filter((t) => t.access === access).length;
  const shown: Record<string, unknown> = { ...rest, apiTokens: { rw: count('rw'), ro: count('ro') } };
  if (credentials === undefined) return shown;
  // A username alone (token-as-username URLs) is itself the secret.
  const username = credentials.password === '' ? REDACTED : credentials.username;
  return { ...shown, credentials: { username, password: REDACTED } };
}

export const REDACTED = '[redacted]';

/**
 * Every form in which a configured secret could show up in text: the Git host's secret raw, URL-encoded and
 * inside a Basic header; each API token raw and URL-encoded. Longest first, so that redacting one never leaves
 * a piece of a longer one behind.
 */
export function secretsOf(config: Config): string[] {
  const out = new Set<string>();
  const c = config.credentials;
  if (c !== undefined) {
    const secret = c.password === '' ? c.username : c.password;
    for (const s of [secret, encodeURIComponent(secret), basicAuthHeader(c).slice('Basic '.length)]) out.add(s);
  }
  for (const { token } of config.apiTokens) for (const s of [token, encodeURIComponent(token)]) out.add(s);
  out.delete('');
  return [...out].sort((a, b) => b.length - a.length);
}

/** Replaces every secret in `text` with "[redacted]". */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.replaceAll(s, REDACTED);
  return out;
}

function integer(get: Getter, name: string, dflt: number, min: number, max: number): number {
  const raw = get(name);
  if (raw === undefined) return dflt;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)}); ` +
      `unset it for the default ${dflt}`);
  }
  return n;
}

/** HOST is an IP address or a host name; whether this machine has it is learned when the server binds. */
function checkHost(raw: string): string {
  const name = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(name) !== 0) return name;
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  if (name.length <= 253 && name.replace(/\.$/, '').split('.').every((l) => label.test(l))) return name;
  throw new ConfigError(`HOST must be an IP address or a host name of this machine (got ${JSON.stringify(raw)}); ` +
    'e.g. HOST=127.0.0.1 for this machine only, HOST=0.0.0.0 for all interfaces, or unset it');
}

function packCompression(get: Getter): 'auto' | BlobCompression {
  const v = get('GIT_PACK_COMPRESSION');
  if (v === undefined || v === 'auto') return 'auto';
  if (v === 'adaptive') return v;
  if (/^[0-9]$/.test(v)) return Number(v) as BlobCompression;
  throw new ConfigError(`GIT_PACK_COMPRESSION must be auto, adaptive or a zlib level 0 to 9 (got ${JSON.stringify(v)}); ` +
    'unset it for the default auto');
}

function oneOf<T extends string>(get: Getter, name: string, allowed: readonly T[], dflt: T): T {
  const raw = get(name);
  if (raw === undefined) return dflt;
  const v = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(raw)}); ` +
      `unset it for the default ${dflt}`);
  }
  return v as T;
}

function flag(get: Getter, name: string, dflt: boolean): boolean {
  const raw = get(name);
  if (raw === undefined) return dflt;
  const v = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false (got ${JSON.stringify(raw)}); unset it for the default ${dflt}`);
}

function identity(get: Getter, name: string, dflt: string): string {
  const v = get(name) ?? dflt;
  // These end up inside a commit header line: "author Name <email> time tz".
  if (/[<>\n\r\0]/.test(v)) {
    throw new ConfigError(`${name} must not contain "<", ">" or line breaks; set it to e.g. ${name}=${dflt}`);
  }
  return v;
}

/** A branch name as `git check-ref-format --branch` would accept it. */
function branch(name: string): string {
  const bad =
    name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.') ||
    name.endsWith('.lock') || name === '@' || name.includes('..') || name.includes('//') ||
    name.includes('@{') || name.split('/').some((s) => s.startsWith('.')) ||
    /[\x00-\x20\x7f~^:?*[\\]/.test(name);
  if (bad) {
    throw new ConfigError(`GIT_BRANCH ${JSON.stringify(name)} is not a valid Git branch name; set e.g. GIT_BRANCH=main`);
  }
  return name;
}

function repoUrl(raw: string | undefined): { url?: string; userinfo?: BasicCredentials } {
  if (raw === undefined) return {};
  // Never echo the value: it may carry a token.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('GIT_REPO_URL is not a valid URL; set it to the smart-HTTP URL, e.g. https://github.com/owner/repo.git');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`GIT_REPO_URL must be an http:// or https:// URL (got ${url.protocol}); ` +
      'e.g. https://github.com/owner/repo.git');
  }
  let userinfo: BasicCredentials | undefined;
  if (url.username !== '' || url.password !== '') {
    try {
      userinfo = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    } catch {
      throw new ConfigError('GIT_REPO_URL has badly percent-encoded credentials; encode them or use GIT_USERNAME and GIT_PASSWORD');
    }
    url.username = '';
    url.password = '';
  }
  return userinfo === undefined ? { url: url.href } : { url: url.href, userinfo };
}

/**
 * Precedence: GIT_USERNAME + GIT_PASSWORD/GIT_TOKEN, then userinfo in GIT_REPO_URL, then the earlier server's
 * TEST_GITHUB_PAT_TOKEN (user "git"). A token without a username (from GIT_USERNAME or the URL) is sent as
 * user "git".
 */
function pickCredentials(get: Getter, userinfo: BasicCredentials | undefined): BasicCredentials | undefined {
  const username = get('GIT_USERNAME');
  const password = get('GIT_PASSWORD');
  const token = get('GIT_TOKEN');
  if (password !== undefined && token !== undefined) {
    throw new ConfigError('GIT_PASSWORD and GIT_TOKEN are both set; set only one of them');
  }
  const secret = password ?? token;
  if (secret !== undefined) return { username: username ?? (userinfo?.username || 'git'), password: secret };
  if (username !== undefined) {
    if (userinfo !== undefined && userinfo.password !== '') return { username, password: userinfo.password };
    throw new ConfigError('GIT_USERNAME is set without a password; also set GIT_PASSWORD or GIT_TOKEN');
  }
  if (userinfo !== undefined) return userinfo;
  const legacy = get('TEST_GITHUB_PAT_TOKEN');
  if (legacy !== undefined) return { username: 'git', password: legacy };
  return undefined;
}
