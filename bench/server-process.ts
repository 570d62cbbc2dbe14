// Starting the API server as a child process: the one way the tools (soak, bench) and the test fixtures
// (fixtures/server-process.ts) do it. launchServer spawns it and makes sure it never outlives us; waitHealthy
// polls /healthz. On top: startApiProcess (the benchmark's server on a given repository) and startOwnServer (the
// soak's server on an embedded repository). Each child runs as `npm start` runs it when asked (asNpmStart).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { loadConfig } from '../src/api/config.js';
import { createLogger } from '../src/api/logger.js';
import { startServer } from '../src/api/server.js';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../src/process/launch.js';
import { freePort } from './free-port.js';
import { sleep, within } from './wait.js';

/** The built server, what `npm start` runs: dist/api/server.js, from the sources here or from dist/bench. */
export const BUILT_SERVER = fileURLToPath(new URL(
  import.meta.url.endsWith('.ts') ? '../dist/api/server.js' : '../api/server.js', import.meta.url));

/**
 * The server to run next to this module and the node flags it needs: the build, or, when this module runs from
 * the TypeScript sources under a loader (the tests), src/api/server.ts under the same loader flags.
 */
export function serverCommand(): { script: string; execArgv: string[] } {
  if (import.meta.url.endsWith('.ts')) {
    return { script: fileURLToPath(new URL('../src/api/server.ts', import.meta.url)), execArgv: [...process.execArgv] };
  }
  return { script: BUILT_SERVER, execArgv: [] };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchOptions {
  /** Default: serverCommand(). */
  script?: string;
  execArgv?: readonly string[];
  /** Add SERVER_NODE_FLAGS and SERVER_MALLOC_ENV (src/process/launch.ts); malloc settings in `env` win. */
  asNpmStart?: boolean;
  /** The child's whole environment (nothing else is inherited). */
  env: NodeJS.ProcessEnv;
  /** 'pipe': read stdout/stderr from `child`; a path: both appended to that file. */
  output: 'pipe' | string;
  cwd?: string;
  /** Its own process group, so that Ctrl-C in a terminal reaches only the tool, which then stops the server. */
  detached?: boolean;
}

export interface LaunchedServer {
  child: ChildProcess;
  /** Settles once the process has exited and its output is read; rejects when it could not be spawned. */
  exited: Promise<Exit>;
  hasExited(): boolean;
  /** Sends `sig` (default SIGTERM); SIGKILL after `graceMs` (default 10 s). Resolves on the exit. */
  stop(sig?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Last resort: should we exit without stopping our servers (an uncaught error, process.exit), take them along. */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export function launchServer(opts: LaunchOptions): LaunchedServer {
  const command = serverCommand();
  const script = opts.script ?? command.script;
  const execArgv = [...(opts.execArgv ?? (opts.script === undefined ? command.execArgv : [])),
    ...(opts.asNpmStart === true ? SERVER_NODE_FLAGS : [])];
  const env = opts.asNpmStart === true ? { ...SERVER_MALLOC_ENV, ...opts.env } : opts.env;
  let child: ChildProcess;
  if (opts.output === 'pipe') {
    child = spawn(process.execPath, [...execArgv, script], {
      env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached === true,
    });
  } else {
    const log = openSync(opts.output, 'a');
    try {
      child = spawn(process.execPath, [...execArgv, script], {
        env, cwd: opts.cwd, stdio: ['ignore', log, log], detached: opts.detached === true,
      });
    } finally {
      closeSync(log);
    }
  }
  track(child);
  let done = false;
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', (err) => {
      done = true;
      reject(err);
    });
    // 'close' rather than 'exit': all output has been read by then.
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  exited.catch(() => {});
  const settled = exited.then(() => {}, () => {});
  return {
    child,
    exited,
    hasExited: () => done,
    async stop(sig = 'SIGTERM', graceMs = 10_000) {
      if (done) return;
      child.kill(sig);
      if (!(await within(settled, graceMs))) {
        child.kill('SIGKILL');
        await settled;
      }
    },
  };
}

export type Health = 'healthy' | 'exited' | 'timeout' | 'aborted';

/** Polls GET `url`/healthz until it answers 200, the process exits, `timeoutMs` passes or `signal` aborts. */
export async function waitHealthy(url: string, server: LaunchedServer,
  opts: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<Health> {
  const deadline = performance.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (server.hasExited()) return 'exited';
    if (opts.signal?.aborted) return 'aborted';
    if (performance.now() > deadline) return 'timeout';
    try {
      const res = await request(`${url}/healthz`, { method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return 'healthy';
    } catch {
      // not listening yet
    }
    await sleep(opts.intervalMs ?? 100, opts.signal);
  }
}

/** The last `n` lines of a log file, for an error message. */
export function lastLines(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- The benchmark's API: a server on a given repository, as a child process or in this process. ----

export interface ApiProcess {
  url: string;
  /** The process serving the API (this one when in-process). */
  pid: number;
  /** SIGTERM, then SIGKILL after 10 s (in-process: a graceful close). */
  stop(): Promise<void>;
}

export interface ApiProcessOptions {
  repoUrl: string;
  branch: string;
  /** Server stdout and stderr go here. */
  logPath: string;
  /** More environment for the server (e.g. MAX_BODY_BYTES). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

function apiEnv(opts: ApiProcessOptions): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    BACKEND_TYPE: 'git',
    GIT_REPO_URL: opts.repoUrl,
    GIT_BRANCH: opts.branch,
    LOG_LEVEL: 'info',
    ...opts.env,
  };
}

/** The API in this process; its log lines are formatted as usual, then dropped. */
export async function startApiInProcess(opts: ApiProcessOptions): Promise<ApiProcess> {
  const config = loadConfig(apiEnv(opts));
  const logger = createLogger({ level: config.logLevel, write: () => {} });
  const running = await startServer(config, { host: '127.0.0.1', port: 0, logger });
  return { url: running.url, pid: process.pid, stop: () => running.close() };
}

/** The API as a child process, started as `npm start` starts it, so that its memory can be read apart from ours. */
export async function startApiProcess(opts: ApiProcessOptions): Promise<ApiProcess> {
  const { script } = serverCommand();
  if (!existsSync(script)) throw new Error(`${script} does not exist; run \`npm run build\` first`);
  const port = await freePort();
  const server = launchServer({
    asNpmStart: true, output: opts.logPath, env: { ...process.env, PORT: String(port), ...apiEnv(opts) },
  });
  const url = `http://127.0.0.1:${port}`;
  const health = await waitHealthy(url, server, { timeoutMs: opts.startTimeoutMs ?? 60_000 });
  if (health === 'healthy') return { url, pid: server.child.pid as number, stop: () => server.stop() };
  await server.stop();
  throw new Error(health === 'exited' ? `the API exited during startup:\n${lastLines(opts.logPath, 15)}`
    : `the API did not answer ${url}/healthz in time; see ${opts.logPath}`);
}

// ---- The soak's own server: the embedded default repository in a temporary data directory. ----

export interface OwnServer {
  url: string;
  pid: number;
  dataDir: string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL if it does not exit in time. Removes the data directory unless `keepData`. */
  stop(keepData: boolean): Promise<void>;
}

export async function startOwnServer(backend: 'git' | 'memory', logPath: string,
  signal: AbortSignal): Promise<OwnServer> {
  const { script } = serverCommand();
  if (!existsSync(script)) throw new Error(`${script} does not exist; run \`npm run build\` first, or pass --url`);
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'gitrest-soak-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', BACKEND_TYPE: backend, DATA_DIR: dataDir,
  };
  delete env.GIT_REPO_URL; // the embedded default repository
  const child = launchServer({ asNpmStart: true, output: logPath, env, detached: true });
  const stop = async (keepData: boolean): Promise<void> => {
    await child.stop('SIGTERM', 30_000);
    if (!keepData) await rm(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const health = await waitHealthy(url, child, { timeoutMs: 60_000, intervalMs: 200, signal });
  if (health === 'healthy') {
    return {
      url, pid: child.child.pid ?? -1, dataDir, exited: child.exited.then(() => {}, () => {}),
      hasExited: child.hasExited, stop,
    };
  }
  await stop(health !== 'aborted');
  if (health === 'exited') {
    throw new Error(`the server exited during startup; last lines of ${logPath}:\n${lastLines(logPath, 15)}`);
  }
  if (health === 'aborted') throw new Error('interrupted while the server was starting');
  throw new Error(`the server did not answer ${url}/healthz within 60 s; see ${logPath}`);
}
