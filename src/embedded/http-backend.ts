// A local Git smart-HTTP server: node:http in front of the real `git http-backend`, run as a CGI
// once per request. Request and response bodies are streamed in both directions.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseCgiHead, type CgiHead } from './cgi-head.js';
import { RequestCounts, type BackendCounts } from './request-counts.js';
import { decodePathInfo, routeRequest, type GitService } from './request-path.js';

export type { GitService } from './request-path.js';
export { RequestCounts, type BackendCounts } from './request-counts.js';

export interface RequestInfo {
  service: GitService;
  repo: string;
  method: string;
  path: string;
  /** The client's Git-Protocol header (e.g. "version=2"), if it sent one. */
  gitProtocol?: string;
}

export interface HttpBackendOptions {
  projectRoot: string;
  host?: string; // default 127.0.0.1
  port?: number; // default 0 (any free port)
  /** Directory holding git-http-backend; default: the output of `git --exec-path`. */
  gitExecPath?: string;
  onRequest?: (info: RequestInfo) => void;
  /** Called once the CGI that served a request has exited (its effects, e.g. a push's objects, are on disk). */
  onFinished?: (info: RequestInfo) => void;
  /** Extra environment for the CGI (e.g. GIT_CONFIG_NOSYSTEM); applied before the CGI variables. */
  env?: Record<string, string>;
  /** Counter to record into; pass the same one to a later server to keep counting across a restart. */
  counts?: RequestCounts;
  /** Where CGI failures are reported; default: stderr. */
  log?: (message: string) => void;
}

export interface HttpBackendServer {
  readonly url: string;
  readonly port: number;
  counts(repo?: string): BackendCounts;
  resetCounts(): void;
  close(): Promise<void>;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_STDERR_BYTES = 16 * 1024;
// Parent variables the CGI may see; everything else it gets is set explicitly.
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'SYSTEMROOT'];

let defaultExecPath: Promise<string> | undefined;

/** `git --exec-path`, resolved once per process. */
export function gitExecPath(): Promise<string> {
  defaultExecPath ??= new Promise<string>((resolve, reject) => {
    const child = spawn('git', ['--exec-path'], { env: inheritedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0 && out.trim()) resolve(out.trim());
      else reject(new Error(`git --exec-path failed (${code}): ${err.trim()}`));
    });
  });
  defaultExecPath.catch(() => (defaultExecPath = undefined));
  return defaultExecPath;
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The user name of a Basic Authorization header; not verified (this server does no authentication). */
function basicUser(req: IncomingMessage): string | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
  if (!m) return undefined;
  const user = Buffer.from(m[1]!, 'base64').toString('utf8').split(':')[0];
  return user || undefined;
}

function cgiEnv(req: IncomingMessage, root: string, pathInfo: string, query: string, extra: Record<string, string>) {
  const env: Record<string, string> = {
    ...inheritedEnv(),
    ...extra,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    CONTENT_TYPE: header(req, 'content-type') ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
  };
  const length = header(req, 'content-length');
  if (length !== undefined) env.CONTENT_LENGTH = length;
  // http-backend inflates a gzip body itself when told the encoding.
  const encoding = header(req, 'content-encoding');
  if (encoding !== undefined) env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = header(req, 'git-protocol');
  if (protocol !== undefined) env.GIT_PROTOCOL = protocol;
  const user = basicUser(req);
  if (user !== undefined) env.REMOTE_USER = user;
  return env;
}

function plain(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  res.end(text + '\n');
}

function writeHead(res: ServerResponse, head: CgiHead): void {
  const fields = new Map<string, string[]>();
  for (const [name, value] of head.headers) {
    const values = fields.get(name.toLowerCase()) ?? [];
    values.push(value);
    fields.set(name.toLowerCase(), values);
  }
  for (const [name, values] of fields) res.setHeader(name, values.length === 1 ? values[0]! : values);
  if (head.statusText) res.writeHead(head.status, head.statusText);
  else res.writeHead(head.status);
}

/** Kills the CGI and anything it started (it runs in its own process group). */
function killTree(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

export async function startHttpBackend(opts: HttpBackendOptions): Promise<HttpBackendServer> {
  const execPath = opts.gitExecPath ?? (await gitExecPath());
  const backendBin = join(execPath, 'git-http-backend');
  const counts = opts.counts ?? new RequestCounts();
  const extraEnv = opts.env ?? {};
  const log = opts.log ?? ((message: string) => process.stderr.write(`[http-backend] ${message}\n`));
  // Each running CGI: how to kill it, and a promise that settles once it has exited and its pipes closed.
  const children = new Set<{ kill(): void; done: Promise<void> }>();

  function runCgi(req: IncomingMessage, res: ServerResponse, env: Record<string, string>, what: string): Promise<void> {
    const child = spawn(backendBin, [], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const { stdin, stdout, stderr } = child;
    let killedByUs = false;
    const kill = () => {
      killedByUs = true;
      killTree(child);
      // Discard what is left in the pipes so that the child's 'close' event can fire.
      stdin.destroy();
      stdout.destroy();
    };

    let stderrText = '';
    stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderrText.length < MAX_STDERR_BYTES) stderrText += s.slice(0, MAX_STDERR_BYTES - stderrText.length);
    });
    const fail = (reason: string) => {
      log(`${what}: ${reason}${stderrText ? `\n${stderrText.trimEnd()}` : ''}`);
    };

    // Client gone before the response finished: nobody wants the rest.
    res.on('close', () => {
      if (!res.writableFinished) kill();
    });
    req.on('error', kill);

    // Request body → CGI stdin. The CGI may exit without reading it all (e.g. a 404); drain the rest.
    stdin.on('error', () => {
      req.unpipe(stdin);
      req.resume();
    });
    req.pipe(stdin);

    // CGI stdout: header block first, then the body is piped straight through. A CGI that fails
    // after its headers just ends the body early; pkt-line and pack framing let git notice.
    let pending: Buffer = Buffer.alloc(0);
    let head: CgiHead | null = null;
    const onHeadData = (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      try {
        head = parseCgiHead(pending);
      } catch (err) {
        fail((err as Error).message);
        plain(res, 502, 'bad gateway: malformed CGI response');
        kill();
        return;
      }
      if (!head) {
        if (pending.length > MAX_HEAD_BYTES) {
          fail('CGI header block too large');
          plain(res, 502, 'bad gateway: CGI header block too large');
          kill();
        }
        return;
      }
      stdout.off('data', onHeadData);
      stdout.pause();
      if (res.destroyed) return;
      writeHead(res, head);
      const body = pending.subarray(head.bodyStart);
      pending = Buffer.alloc(0);
      if (body.length) res.write(body);
      stdout.pipe(res);
    };
    stdout.on('data', onHeadData);

    const entry = {
      kill,
      done: new Promise<void>((resolve) => {
        let settled = false;
        const settle = (failure: string | undefined) => {
          if (settled) return;
          settled = true;
          children.delete(entry);
          if (!head) failure ??= 'git http-backend ended before sending headers';
          if (failure && !killedByUs) fail(failure);
          if (!head) plain(res, 502, 'bad gateway: git http-backend ended before sending headers');
          resolve();
        };
        child.on('error', (err) => settle(`could not run ${backendBin}: ${err.message}`));
        child.on('close', (code, signal) => {
          settle(code !== 0 || signal ? `git http-backend exited with ${signal ?? `code ${code}`}` : undefined);
        });
      }),
    };
    children.add(entry);
    return entry.done;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q + 1);
    const pathInfo = decodePathInfo(rawPath);
    if (pathInfo === null) {
      req.resume();
      plain(res, 400, 'bad request: invalid path');
      return;
    }
    const method = req.method ?? 'GET';
    const { service, repo } = routeRequest(method, pathInfo);
    counts.record(repo, service);
    const gitProtocol = header(req, 'git-protocol');
    const info: RequestInfo = { service, repo, method, path: pathInfo, ...(gitProtocol !== undefined ? { gitProtocol } : {}) };
    opts.onRequest?.(info);
    void runCgi(req, res, cgiEnv(req, opts.projectRoot, pathInfo, query, extraEnv), `${method} ${rawPath}`)
      .then(() => opts.onFinished?.(info));
  }

  // requestTimeout 0: a large push may legitimately take longer than Node's default 5 minutes.
  const server = createServer({ requestTimeout: 0 }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    counts: (repo?: string) => counts.get(repo),
    resetCounts: () => counts.reset(),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        const running = [...children];
        for (const entry of running) entry.kill();
        await Promise.all(running.map((entry) => entry.done));
        await stopped;
      })();
      return closing;
    },
  };
}
