// The storage interface the HTTP API is written against. Two backends implement it: the in-memory one
// (memory-store.ts) and the Git-backed one (git-store.ts).
//
// Paths handed to a store are already validated and normalized by the API (src/api/paths.ts): UTF-8 text,
// segments joined by '/', no leading or trailing slash, no empty, '.', '..' or '.git' segments, no control chars.

/** A request body, streamed. `length` is the client's Content-Length when it sent one. */
export interface BodySource {
  stream: AsyncIterable<Uint8Array>;
  length?: number;
}

/** A stored file: `size` bytes, delivered by `stream`. The consumer must either drain the stream or stop
 * iterating (break / iterator.return()) so the store can release what it holds. */
export interface ReadResult {
  size: number;
  stream: AsyncIterable<Uint8Array>;
  /** The commit the file was read from, when the backend knows it. */
  commit?: string;
  /** How many times the backend retried the read (a failing Git host); counted in the metrics. */
  retries?: number;
}

/** A write that the backend has durably accepted (for Git: the remote accepted the push). */
export interface WriteResult {
  /** 40-hex id of the commit that holds the change. */
  commit: string;
  /** How many times the backend had to retry (e.g. a push lost a race with another writer). */
  retries: number;
}

export type StoreErrorKind =
  | 'not-found' // 404: nothing at that path (or it is a directory)
  | 'conflict' // 409: the path exists already, or a file/directory clash
  | 'bad-request' // 400: the body or path is unusable
  | 'too-large' // 413: the body is over the configured limit
  | 'upstream' // 502: the Git host answered with something we can't use
  | 'unavailable' // 503: the backend is closed, or the Git host is unreachable
  | 'timeout' // 504: the Git host did not answer in time
  | 'auth'; // 502: the Git host rejected our credentials

/** The one error type a store throws on purpose. `message` is written for a person; `detail` may add context
 * (never credentials). `retries` counts retries spent before giving up. */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  readonly detail?: string;
  readonly retries: number;

  constructor(
    kind: StoreErrorKind,
    message: string,
    detail?: string,
    opts?: { retries?: number; cause?: unknown },
  ) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreError';
    this.kind = kind;
    if (detail !== undefined) this.detail = detail;
    this.retries = opts?.retries ?? 0;
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}

/** Where a read looks: `ref` is a full commit id, a branch name or a tag name; unset = the configured branch. */
export interface ReadOptions {
  ref?: string;
}

/** One entry of a directory listing. `etag` is the Git object id; `size` is there when known without asking. */
export interface ListEntry {
  name: string;
  /** The full path; a directory's ends with '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'submodule';
  etag?: string;
  mode: string;
  size?: number;
}

export interface ListOptions extends ReadOptions {
  /** Entries per page (the API bounds it). */
  limit: number;
  /** Every file below the directory, no directory entries. */
  recursive?: boolean;
  /** An opaque `next` from an earlier page; it carries the commit the listing started from. */
  cursor?: string;
}

/** One page of a directory listing. `commit` is null when the backend has no commits to name. */
export interface Listing {
  /** The directory, ending in '/' ('' is the root, answered as '/'). */
  path: string;
  commit: string | null;
  entries: ListEntry[];
  truncated: boolean;
  next: string | null;
  retries?: number;
}

/** One commit that changed a path; `etag` is what the path holds after it (null: deleted). */
export interface HistoryEntry {
  commit: string;
  parent: string | null;
  author: { name: string; email: string; date: string };
  message: string;
  change: 'create' | 'modify' | 'delete';
  etag: string | null;
}

export interface HistoryOptions extends ReadOptions {
  limit: number;
  /** The history of everything below a directory (`path` is then a directory, '' the root). */
  dir?: boolean;
  /** An opaque `next` from an earlier page. */
  cursor?: string;
}

/** One page of a path's history, newest first; `next` continues it (a page may hold fewer than `limit`). */
export interface History {
  path: string;
  commits: HistoryEntry[];
  next: string | null;
  retries?: number;
}

export interface Store {
  /** Throws StoreError('not-found') when there is no file at `path` (or the ref is unknown). */
  get(path: string, opts?: ReadOptions): Promise<ReadResult>;
  /**
   * One page of the directory `dir` ('' = the root; no trailing slash). Throws StoreError('not-found') when
   * there is no directory there (a file included), 'bad-request' for a cursor it did not make.
   */
  list?(dir: string, opts: ListOptions): Promise<Listing>;
  /** The first-parent commits that changed `path` (or, with `dir`, anything below it); a backend without history leaves it out. */
  history?(path: string, opts: HistoryOptions): Promise<History>;
  /** Throws StoreError('conflict') when `path` exists (or clashes with a file/directory). */
  create(path: string, body: BodySource): Promise<WriteResult>;
  /** Throws StoreError('not-found') when there is no file at `path`. */
  replace(path: string, body: BodySource): Promise<WriteResult>;
  /** Throws StoreError('not-found') when there is no file at `path`. Empty parent directories disappear. */
  remove(path: string): Promise<WriteResult>;
  /**
   * Readiness: resolves once the backing repository answered a ref lookup, rejects when it did not. A store
   * without one (the memory store) has nothing to wait for and leaves this out.
   */
  ping?(signal?: AbortSignal): Promise<void>;
  /** Releases resources; later calls throw StoreError('unavailable'). */
  close(): Promise<void>;
}
