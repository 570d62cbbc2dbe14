// The entry point (`node dist/api/server.js`) and startServer(), which tests use to run the API in-process.
//
// The Git backend is loaded only when BACKEND_TYPE=git (so the memory backend never loads the Git engine):
//   ./git-backend.ts               createGitStore(config, repoUrl): Store
//   ../embedded/default-repo.ts    startEmbeddedDefault({ dataDir, branch }): Promise<{ repoUrl, cloneUrl, close() }>
// The embedded default is started when BACKEND_TYPE=git and GIT_REPO_URL is unset.

import type { Server, ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { MemoryStore } from '../store/memory-store.js';
import { isStoreError, type Store } from '../store/store.js';
import { isEntryPoint } from '../process/entry-point.js';
import { createServer } from './app.js';
import { ConfigError, loadConfig, redact, redactedConfig, secretsOf, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { ApiMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { WatchStreams } from './watch.js';

export interface ServerOverrides {
  /** Use this store instead of building one from the config. The caller keeps ownership: close() leaves it open. */
  store?: Store;
  logger?: Logger;
  metrics?: ApiMetrics;
  /** Override config.host / config.port (tests pass 127.0.0.1 and 0). */
  host?: string;
  port?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 (no trailing slash) */
  url: string;
  server: Server;
  /** Graceful: stop accepting, let in-flight requests finish (up to SHUTDOWN_GRACE_MS), close the store. */
  close(): Promise<void>;
}

/** Startup failed for a reason the operator can fix; `message` is one line. */
export class StartupError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'StartupError';
  }
}

export async function startServer(config: Config, overrides: ServerOverrides = {}): Promise<RunningServer> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, secrets: secretsOf(config) });
  const metrics = overrides.metrics ?? new ApiMetrics();
  const port = overrides.port ?? config.port;
  const host = overrides.host ?? config.host;
  // The address is checked before anything else starts (the embedded Git server, the store's connections).
  await listenOrExplain(createNetServer(), port, host).then((probe) => new Promise((resolve) => probe.close(resolve)));
  const backend = overrides.store !== undefined
    ? { store: overrides.store, close: async () => {} }
    : await openBackend(config, logger, metrics);

  const readiness = new Readiness(backend.store, { timeoutMs: config.readyTimeoutMs });
  const watchers = new WatchStreams();
  const server = createServer({ store: backend.store, config, metrics, logger, readiness, watchers });
  const requests = trackRequests(server);
  try {
    await listenOrExplain(server, port, host);
  } catch (err) {
    await backend.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      readiness.stop();
      // Change feeds never finish by themselves: end them first, so the drain waits only for real requests.
      watchers.close();
      const inFlight = requests.active.size;
      const cut = await drain(server, config.shutdownGraceMs, logger, requests.active);
      await backend.close();
      logger.info(`gitrest stopped: ${requests.finished()} requests served, ${inFlight - cut} finished during ` +
        `shutdown, ${cut} cut`, { served: requests.finished(), finished_in_shutdown: inFlight - cut, cut });
    })();
    return closing;
  };
  return { url: urlOf(server.address() as AddressInfo), server, close };
}

/** Builds the configured store; `close` closes it and whatever was started for it. */
async function openBackend(config: Config, logger: Logger, metrics: ApiMetrics):
  Promise<{ store: Store; close(): Promise<void> }> {
  if (config.backendType === 'memory') {
    const store = new MemoryStore({ maxBodyBytes: config.maxBodyBytes });
    return { store, close: () => store.close() };
  }
  let embedded: { repoUrl: string; cloneUrl: string; close(): Promise<void> } | undefined;
  try {
    let repoUrl = config.gitRepoUrl;
    if (repoUrl === undefined) {
      const { startEmbeddedDefault } = await importOrExplain(() => import('../embedded/default-repo.js'),
        'the embedded default repository is missing from this build; set GIT_REPO_URL to a Git repository URL');
      embedded = await startEmbeddedDefault({
        dataDir: config.dataDir, branch: config.gitBranch,
        ...(config.embeddedGitPort === undefined ? {} : { port: config.embeddedGitPort }),
        log: (level, message, fields) => logger[level](message, fields),
      }).catch((err: unknown) => {
        throw new StartupError(`cannot start the embedded default repository in ${config.dataDir}: ` +
          `${(err as Error).message}`, { cause: err });
      });
      repoUrl = embedded.repoUrl;
      logger.info(`no GIT_REPO_URL: keeping data in ${config.dataDir}; its Git server listens on 127.0.0.1 only ` +
        `(this machine); clone it with: git clone ${embedded.cloneUrl}`,
        { repoUrl: embedded.repoUrl, cloneUrl: embedded.cloneUrl });
    }
    const { createGitStore } = await importOrExplain(() => import('./git-backend.js'),
      'the Git backend is missing from this build; set BACKEND_TYPE=memory or rebuild with `npm run build`');
    // Once per outage, not once per poll: watchers wait quietly for the host to come back.
    const store: Store = await createGitStore(config, repoUrl, metrics, (level, message, fields) => logger[level](message, fields),
      (err) => logger.warn('change feed: cannot read the branch; watchers get no events until it can',
        { error: err.message, ...(err.detail === undefined ? {} : { detail: err.detail }) }));
    const started = embedded;
    return {
      store,
      close: async () => {
        await store.close();
        await started?.close();
      },
    };
  } catch (err) {
    await embedded?.close();
    if (isStoreError(err)) {
      const detail = err.detail === undefined ? '' : ` (${err.detail})`;
      throw new StartupError(redact(`cannot open the Git repository: ${err.message}${detail}`, secretsOf(config)),
        { cause: err });
    }
    throw err;
  }
}

/** Runs a dynamic import; if the module file itself is missing, fails with `missing` instead. */
async function importOrExplain<M>(load: () => Promise<M>, missing: string): Promise<M> {
  try {
    return await load();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND') throw new StartupError(`${missing} [${e.message}]`, { cause: err });
    throw err;
  }
}

/** Listens on host:port; a failure is a StartupError whose advice names the variable to change. */
async function listenOrExplain<S extends Server | ReturnType<typeof createNetServer>>(server: S, port: number,
  host: string | undefined): Promise<S> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (host !== undefined && HOST_ERRORS.has(e.code ?? '')) {
      throw new StartupError(`cannot listen on HOST ${host}: ${e.message}; set HOST to an address of this machine ` +
        '(e.g. 127.0.0.1, or 0.0.0.0 for all interfaces) or unset it', { cause: err });
    }
    throw new StartupError(`cannot listen on port ${port}: ${e.message}; set PORT to a free port`, { cause: err });
  }
}

/** Errors that are about the address to listen on, not the port. */
const HOST_ERRORS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** The responses in progress and a count of those that were sent completely. */
function trackRequests(server: Server): { active: Set<ServerResponse>; finished(): number } {
  const active = new Set<ServerResponse>();
  let finished = 0;
  server.on('request', (_req, res: ServerResponse) => {
    active.add(res);
    res.once('close', () => {
      active.delete(res);
      if (res.writableFinished) finished++;
    });
  });
  return { active, finished: () => finished };
}

function urlOf(addr: AddressInfo): string {
  let host = addr.address;
  if (host === '::' || host === '0.0.0.0') host = 'localhost';
  else if (addr.family === 'IPv6') host = `[${host}]`;
  return `http://${host}:${addr.port}`;
}

/** Stops accepting, waits for in-flight requests up to `graceMs`, then cuts whatever is left; resolves how many. */
async function drain(server: Server, graceMs: number, logger: Logger, active: Set<ServerResponse>): Promise<number> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections become idle as their last request finishes; close them as they do.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  const timedOut = await Promise.race([closed.then(() => false), expired]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (!timedOut) return 0;
  const cut = active.size;
  logger.warn('shutdown grace period over; closing the remaining connections', { grace_ms: graceMs, cut });
  server.closeAllConnections();
  await closed;
  return cut;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gitrest: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, secrets: secretsOf(config) });
  process.on('unhandledRejection', (reason) => logger.error('unhandled promise rejection', { error: reason }));

  let running: RunningServer;
  try {
    running = await startServer(config, { logger });
  } catch (err) {
    const msg = err instanceof StartupError ? err.message : `startup failed: ${(err as Error)?.stack ?? String(err)}`;
    process.stderr.write(`gitrest: ${redact(msg, secretsOf(config))}\n`);
    process.exit(1);
  }
  logger.info(`gitrest API listening on ${running.url}/`, { url: running.url, config: redactedConfig(config) });
  if (config.loopbackByDefault) {
    logger.info('the API listens on 127.0.0.1 only: the embedded repository has no API tokens protecting it; ' +
      'set HOST=0.0.0.0 (with API_TOKENS_RW) to serve other machines');
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal, grace_ms: config.shutdownGraceMs });
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('error while shutting down', { error: err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (isEntryPoint(import.meta.url)) void main();
