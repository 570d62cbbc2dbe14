/**
 * The stores' options and every default they take, resolved here once: a store works from the fully
 * populated object this module returns and never falls back to a default of its own. The server's
 * configuration (src/api/config.ts) takes its environment defaults from the same constants, so an env var
 * left unset and an option left out mean the same thing.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobCompression } from '../pack/pack-writer.js';
import type { RemoteOptions } from '../protocol/remote.js';
import { NO_ENGINE_METRICS, type EngineMetrics, type StoreLog } from './engine-metrics.js';
import type { StoreError } from './store.js';

/** Largest request body (MAX_BODY_BYTES). */
export const DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024;
/** Bodies above this are spooled to a temporary file while they are read (SPOOL_THRESHOLD_BYTES). */
export const DEFAULT_SPOOL_THRESHOLD_BYTES = 1024 * 1024;
/** Bound on the cache of immutable Git objects (CACHE_BYTES). */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Bound on the disk cache of blobs larger than the object cache keeps (CACHE_DISK_BYTES); 0 turns it off. */
export const DEFAULT_CACHE_DISK_BYTES = 1024 * 1024 * 1024;
/** The disk cache's directory under DATA_DIR for the embedded default repository. */
export const EMBEDDED_CACHE_DIR = 'blob-cache';
/** Blobs up to this size are cached. */
export const DEFAULT_CACHE_BLOB_BYTES = 64 * 1024;
/** Blob sizes remembered for HEAD (about 150 bytes each). */
export const DEFAULT_BLOB_SIZES = 100_000;
/** First-parent commits below the tip in which an Idempotency-Key is looked for (IDEMPOTENCY_WINDOW). */
export const DEFAULT_IDEMPOTENCY_WINDOW = 1000;
/** How often the change feed looks up the tip while anyone watches (WATCH_POLL_MS). */
export const DEFAULT_WATCH_POLL_MS = 1000;
/** A write batch answers within this, its retries included (WRITE_DEADLINE_MS). */
export const DEFAULT_WRITE_DEADLINE_MS = 30_000;
/** Longest Retry-After a retry waits for. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 5_000;
/** The HTTP client's own headers timeout when the remote options set none (see src/protocol/http.ts). */
const REMOTE_HEADERS_TIMEOUT_MS = 60_000;

export type WriteMethod = 'POST' | 'PUT' | 'DELETE';

export interface GitStoreOptions {
  remote: RemoteOptions;
  branch: string;
  author: { name: string; email: string };
  /** Commit message for a write; default "<METHOD> <path>". */
  message?: (method: WriteMethod, path: string) => string;
  /** Largest body a write accepts; default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Bodies above this are spooled to a temporary file while they are read; default DEFAULT_SPOOL_THRESHOLD_BYTES. */
  spoolThresholdBytes?: number;
  /** Bound on the object cache; default DEFAULT_CACHE_BYTES. */
  cacheBytes?: number;
  /** Blobs up to this size are cached; default DEFAULT_CACHE_BLOB_BYTES. */
  cacheBlobBytes?: number;
  /** Bound on the disk cache of blobs, in bytes; 0 turns it off; default DEFAULT_CACHE_DISK_BYTES. */
  cacheDiskBytes?: number;
  /** The disk cache's directory; default defaultCacheDir(remote.url). May be shared by processes. */
  cacheDir?: string;
  /** Blob sizes remembered, so a HEAD need not fetch the blob; default DEFAULT_BLOB_SIZES. */
  blobSizes?: number;
  /** First-parent commits an idempotency key is looked for in; default DEFAULT_IDEMPOTENCY_WINDOW. */
  idempotencyWindow?: number;
  /**
   * Attempts of a write batch after transient failures of the host, the first included; default 8. Lost races
   * are not counted: they are bounded by writeDeadlineMs alone.
   */
  maxAttempts?: number;
  /** A write batch answers within this, retries included (WRITE_DEADLINE_MS); default DEFAULT_WRITE_DEADLINE_MS. */
  writeDeadlineMs?: number;
  /** A read answers within this, retries included; default twice the remote's headers timeout. */
  readDeadlineMs?: number;
  /** Attempts of a read, the first included; default 5. */
  readAttempts?: number;
  /** Longest Retry-After honored; default DEFAULT_MAX_RETRY_AFTER_MS. */
  maxRetryAfterMs?: number;
  /** How far back (first-parent commits) a push in doubt is looked for on the branch; default 20. */
  landedDepth?: number;
  /** Most writes carried by one push; default 64. */
  maxBatch?: number;
  /** The clock commits are dated by; default the system clock. */
  now?: () => Date;
  /** How often the change feed looks up the tip while anyone watches; default DEFAULT_WATCH_POLL_MS. */
  watchPollMs?: number;
  /** Told when the change feed's polls start failing (once until one succeeds); default: nobody. */
  onWatchError?: (err: StoreError) => void;
  /** Told about exchanges with the host, pushes and the object cache; default: nobody. */
  metrics?: EngineMetrics;
  /**
   * How blobs are compressed in a push (GIT_PACK_COMPRESSION): 'auto' (the default) stores them (level 0) for
   * a host on loopback, which inflates and deflates again what it receives, and deflates them adaptively for
   * any other host, where the bytes on the wire count; or 'adaptive', or a zlib level 0–9.
   */
  packCompression?: 'auto' | BlobCompression;
  /** Confirm every accepted push with a ref lookup before answering it (GIT_VERIFY_PUSH); default false. */
  verifyPush?: boolean;
  /** Where the store logs what an operator should know; default: nowhere. */
  log?: StoreLog;
}

/** The options with every default filled in ('auto' resolved for the host). */
export type ResolvedGitStoreOptions = Readonly<Required<Omit<GitStoreOptions, 'packCompression'>> & { packCompression: BlobCompression }>;

/** A host name or address that is this machine. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}

export function resolveGitStoreOptions(opts: GitStoreOptions): ResolvedGitStoreOptions {
  return Object.freeze({
    remote: opts.remote,
    branch: opts.branch,
    author: opts.author,
    message: opts.message ?? ((method: WriteMethod, path: string) => `${method} ${path}`),
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    spoolThresholdBytes: opts.spoolThresholdBytes ?? DEFAULT_SPOOL_THRESHOLD_BYTES,
    cacheBytes: opts.cacheBytes ?? DEFAULT_CACHE_BYTES,
    cacheBlobBytes: opts.cacheBlobBytes ?? DEFAULT_CACHE_BLOB_BYTES,
    cacheDiskBytes: opts.cacheDiskBytes ?? DEFAULT_CACHE_DISK_BYTES,
    cacheDir: opts.cacheDir ?? defaultCacheDir(opts.remote.url),
    blobSizes: opts.blobSizes ?? DEFAULT_BLOB_SIZES,
    idempotencyWindow: opts.idempotencyWindow ?? DEFAULT_IDEMPOTENCY_WINDOW,
    maxAttempts: opts.maxAttempts ?? 8,
    writeDeadlineMs: opts.writeDeadlineMs ?? DEFAULT_WRITE_DEADLINE_MS,
    readDeadlineMs: opts.readDeadlineMs ?? 2 * (opts.remote.headersTimeoutMs ?? REMOTE_HEADERS_TIMEOUT_MS),
    readAttempts: opts.readAttempts ?? 5,
    maxRetryAfterMs: opts.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS,
    landedDepth: opts.landedDepth ?? 20,
    maxBatch: opts.maxBatch ?? 64,
    now: opts.now ?? (() => new Date()),
    watchPollMs: opts.watchPollMs ?? DEFAULT_WATCH_POLL_MS,
    onWatchError: opts.onWatchError ?? (() => {}),
    metrics: opts.metrics ?? NO_ENGINE_METRICS,
    verifyPush: opts.verifyPush ?? false,
    packCompression: opts.packCompression === undefined || opts.packCompression === 'auto'
      ? (isLoopbackUrl(opts.remote.url) ? 0 : 'adaptive') : opts.packCompression,
    log: opts.log ?? (() => {}),
  });
}

/**
 * A directory of its own per repository under the system's temp dir, so that processes serving the same
 * repository share their cache and those serving different ones do not mix (blob ids would not clash, but the
 * bound is per repository). The URL carries no credentials by the time it gets here.
 */
export function defaultCacheDir(repoUrl: string): string {
  return join(tmpdir(), `gitrest-cache-${createHash('sha1').update(repoUrl).digest('hex').slice(0, 12)}`);
}

export interface MemoryStoreOptions {
  /** Bodies longer than this are refused with 'too-large'; default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Size of the chunks a read is streamed in; default 64 KiB. */
  chunkBytes?: number;
}

export type ResolvedMemoryStoreOptions = Readonly<Required<MemoryStoreOptions>>;

export function resolveMemoryStoreOptions(opts: MemoryStoreOptions = {}): ResolvedMemoryStoreOptions {
  return Object.freeze({
    maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    chunkBytes: opts.chunkBytes ?? 64 * 1024,
  });
}
