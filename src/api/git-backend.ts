// Builds the Git-backed store from the server's configuration (the store itself knows nothing of env vars).
import type { EngineMetrics, StoreLog } from '../store/engine-metrics.js';
import { GitStore } from '../store/git-store.js';
import type { StoreError } from '../store/store.js';
import { formatCommitMessage, type Config } from './config.js';

/** Builds the store the server runs on from its configuration (GIT_REPO_URL must be resolved by then). */
export function createGitStore(config: Config, repoUrl: string, metrics?: EngineMetrics, log?: StoreLog,
  onWatchError?: (err: StoreError) => void): GitStore {
  return new GitStore({
    ...(metrics === undefined ? {} : { metrics }),
    ...(log === undefined ? {} : { log }),
    ...(onWatchError === undefined ? {} : { onWatchError }),
    verifyPush: config.gitVerifyPush,
    packCompression: config.packCompression,
    remote: {
      url: repoUrl,
      ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
      headersTimeoutMs: config.gitTimeoutMs,
      bodyTimeoutMs: config.gitTimeoutMs,
      connectTimeoutMs: Math.min(config.gitTimeoutMs, 10_000),
      ...(config.packetTrace === undefined ? {} : { packetTrace: config.packetTrace }),
    },
    branch: config.gitBranch,
    author: { name: config.authorName, email: config.authorEmail },
    message: (method, path) => formatCommitMessage(config.commitMessageTemplate, method, path),
    maxBodyBytes: config.maxBodyBytes,
    cacheBytes: config.cacheBytes,
    cacheDiskBytes: config.cacheDiskBytes,
    ...(config.cacheDir === undefined ? {} : { cacheDir: config.cacheDir }),
    idempotencyWindow: config.idempotencyWindow,
    spoolThresholdBytes: config.spoolThresholdBytes,
    watchPollMs: config.watchPollMs,
    writeDeadlineMs: config.writeDeadlineMs,
  });
}
