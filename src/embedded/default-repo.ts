/**
 * The embedded default: with no GIT_REPO_URL, the product keeps its data in a bare repository under a data
 * directory on this machine and serves it over smart HTTP on 127.0.0.1 with the real `git http-backend`,
 * so the engine speaks to it exactly as it would to a remote host, and `git clone` shows the data.
 */
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startHttpBackend, type HttpBackendServer } from './http-backend.js';

const run = promisify(execFile);

export interface EmbeddedDefault {
  /** The smart-HTTP URL the engine uses. */
  repoUrl: string;
  /** The same URL, for `git clone`. */
  cloneUrl: string;
  repoDir: string;
  backend: HttpBackendServer;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  branch: string;
  /** Port of the git server; 0 picks a free one. */
  port?: number;
  repoName?: string;
}

const REPO_CONFIG: Array<[string, string]> = [
  ['http.receivepack', 'true'],
  ['uploadpack.allowFilter', 'true'],
  ['uploadpack.allowAnySHA1InWant', 'true'],
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
  await ensureBareRepo(repoDir, opts.branch);
  const backend = await startHttpBackend({ projectRoot: root, port: opts.port ?? 0 });
  const repoUrl = `${backend.url}/${name}`;
  return { repoUrl, cloneUrl: repoUrl, repoDir, backend, close: () => backend.close() };
}
