/**
 * The embedded default: with no GIT_REPO_URL, the product keeps its data in a bare repository under a data
 * directory on this machine and serves it over smart HTTP on 127.0.0.1 with the real `git http-backend`,
 * so the engine speaks to it exactly as it would to a remote host, and `git clone` shows the data.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startHttpBackend, type HttpBackendServer } from './http-backend.js';
import { Upkeep, type UpkeepLog, type UpkeepOptions } from './upkeep.js';

const run = promisify(execFile);

export interface EmbeddedDefault {
  /** The smart-HTTP URL the engine uses. */
  repoUrl: string;
  /** The same URL, for `git clone`. */
  cloneUrl: string;
  repoDir: string;
  backend: HttpBackendServer;
  upkeep: Upkeep;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  branch: string;
  /**
   * Port of the git server. Unset: the port of the last run (kept in `<dataDir>/git-port`), or a free one the
   * first time; so the clone URL stays the same across restarts. Set: exactly that port (0: any free one).
   */
  port?: number;
  repoName?: string;
  upkeep?: UpkeepOptions;
  log?: UpkeepLog;
}

/** The file in the data directory that remembers the git server's port. */
export const PORT_FILE = 'git-port';

const REPO_CONFIG: Array<[string, string]> = [
  ['http.receivepack', 'true'],
  ['uploadpack.allowFilter', 'true'],
  ['uploadpack.allowAnySHA1InWant', 'true'],
  // A write that lost a race then learns the new tip with its root tree in one request (want-ref).
  ['uploadpack.allowRefInWant', 'true'],
  // Old objects are never needed again by us, but a clone should stay fast: let git pack loose objects.
  ['gc.auto', '6700'],
  ['receive.fsckObjects', 'true'],
];

/** Creates the bare repository if it is not there yet; an existing one (from an earlier run) is kept as is. */
export async function ensureBareRepo(repoDir: string, branch: string): Promise<void> {
  try {
    await access(join(repoDir, 'HEAD'));
  } catch {
    await mkdir(repoDir, { recursive: true });
    await run('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, repoDir]);
  }
  for (const [key, value] of REPO_CONFIG) await run('git', ['-C', repoDir, 'config', key, value]);
}

export async function startEmbeddedDefault(opts: EmbeddedOptions): Promise<EmbeddedDefault> {
  const root = resolve(opts.dataDir);
  const name = opts.repoName ?? 'data.git';
  const repoDir = join(root, name);
  const log = opts.log ?? (() => {});
  await ensureBareRepo(repoDir, opts.branch);
  const upkeep = new Upkeep(repoDir, opts.upkeep, log);
  // Counted once the push's receive-pack has exited, so that upkeep sees what it stored.
  const onFinished = (info: { service: string }): void => {
    if (info.service === 'receive-pack') upkeep.noteWrite();
  };
  let backend: HttpBackendServer;
  try {
    backend = await startOnKeptPort(root, opts, onFinished, log);
  } catch (err) {
    await upkeep.close();
    throw err;
  }
  const repoUrl = `${backend.url}/${name}`;
  return {
    repoUrl, cloneUrl: repoUrl, repoDir, backend, upkeep,
    close: async () => {
      await upkeep.close();
      await backend.close();
    },
  };
}

async function startOnKeptPort(root: string, opts: EmbeddedOptions, onFinished: (info: { service: string }) => void,
  log: UpkeepLog): Promise<HttpBackendServer> {
  const start = (port: number) => startHttpBackend({ projectRoot: root, host: '127.0.0.1', port, onFinished });
  if (opts.port !== undefined) {
    try {
      return await start(opts.port);
    } catch (err) {
      throw new Error(`the embedded Git server cannot listen on 127.0.0.1:${opts.port} ` +
        `(${(err as Error).message}); set EMBEDDED_GIT_PORT to a free port or unset it`, { cause: err });
    }
  }
  const file = join(root, PORT_FILE);
  const kept = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  let backend: HttpBackendServer | undefined;
  if (Number.isInteger(kept) && kept > 0 && kept < 65536) {
    try {
      backend = await start(kept);
    } catch (err) {
      log('warn', `the embedded Git server's port ${kept} is taken; using another one, so the clone URL changes ` +
        '(set EMBEDDED_GIT_PORT to fix it)', { error: err });
    }
  }
  backend ??= await start(0);
  if (backend.port !== kept) await writeFile(file, `${backend.port}\n`);
  return backend;
}
