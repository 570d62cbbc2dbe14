// The API under test: normally a child process (`node dist/api/server.js`), so that its memory can be read from
// /proc/<pid>/status apart from the benchmark's own (run from the TypeScript sources, under a loader as in the
// tests, it starts src/api/server.ts with the same loader flags instead); or, for quick checks, in this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../api/config.js';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../api/launch.js';
import { createLogger } from '../api/logger.js';
import { startServer } from '../api/server.js';
import { freePort } from './free-port.js';

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

function serverEnv(opts: ApiProcessOptions): Record<string, string> {
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
  const config = loadConfig(serverEnv(opts));
  const logger = createLogger({ level: config.logLevel, write: () => {} });
  const running = await startServer(config, { host: '127.0.0.1', port: 0, logger });
  return { url: running.url, pid: process.pid, stop: () => running.close() };
}

/** The server entry point next to this module, and the node flags needed to run it. */
export function serverCommand(): { script: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { script: fileURLToPath(new URL('../api/server.ts', here)), execArgv: [...process.execArgv] };
  }
  return { script: fileURLToPath(new URL('../api/server.js', here)), execArgv: [...SERVER_NODE_FLAGS] };
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function lastLines(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startApiProcess(opts: ApiProcessOptions): Promise<ApiProcess> {
  const { script, execArgv } = serverCommand();
  if (!existsSync(script)) throw new Error(`${script} does not exist; run \`npm run build\` first`);
  const port = await freePort();
  // Started as `npm start` starts it (launch.ts); malloc settings in our own environment win.
  const env: NodeJS.ProcessEnv = { ...SERVER_MALLOC_ENV, ...process.env, PORT: String(port), ...serverEnv(opts) };
  const log = openSync(opts.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...execArgv, script], { env, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = exitOf(child);
  // Should the benchmark die without stopping it, the server must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    process.off('exit', killOnExit);
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + (opts.startTimeoutMs ?? 60_000);
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`the API did not answer ${url}/healthz in time; see ${opts.logPath}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return { url, pid: child.pid as number, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`the API exited during startup:\n${lastLines(opts.logPath, 15)}`);
}
