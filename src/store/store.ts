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
export interface ReadResult extends FileVersion {
  size: number;
  stream: AsyncIterable<Uint8Array>;
  /**
   * Bytes `start` to `end` inclusive, read without the rest, when the backend can (a blob in the disk cache).
   * Whoever takes it must still discard `stream`.
   */
  range?: (start: number, end: number) => AsyncIterable<Uint8Array>;
  /** How many times the backend retried the read (a failing Git host); counted in the metrics. */
  retries?: number;
}

/** Which version of a file a read found, known before any of its content is fetched. */
export interface FileVersion {
  /** The Git blob id of the content (a content hash: the ETag). */
  etag: string;
  /** The commit the file was read from, when the backend knows it. */
  commit?: string;
}

/** What a read needs once it knows the file's version: its content, its size alone (HEAD), or nothing (304, 412). */
export type ReadWant = 'content' | 'size' | 'none';

export interface ConditionalReadOptions extends ReadOptions {
  /** Called once, with the version found, before anything of the content is fetched. */
  want(file: FileVersion): ReadWant;
}

/** The answer to a conditional read: as much as `want` asked for. */
export type ConditionalRead =
  | (FileVersion & { want: 'none'; retries?: number })
  | (FileVersion & { want: 'size'; size: number; retries?: number })
  | (ReadResult & { want: 'content' });

/**
 * A write's precondition on what its path holds when the write is applied (RFC 9110 If-Match and
 * If-None-Match, compared by blob id). A write that fails it is refused with StoreError('precondition').
 */
export interface WriteCondition {
  /** The path must hold a file with one of these ids ('*': any file). */
  ifMatch?: readonly string[] | '*';
  /** The path must not hold a file with one of these ids ('*': no file at all; then a PUT may create it). */
  ifNoneMatch?: readonly string[] | '*';
}

/** What a write may carry beside its body: a precondition, and a key that makes repeating it safe. */
export interface WriteOptions {
  condition?: WriteCondition;
  /**
   * Recorded in the commit. A repeat with the same key and the same request answers what the first answered,
   * without writing again; the same key with another request is refused ('key-reused').
   */
  idempotencyKey?: string;
}

/** One operation of an atomic commit (POST /_commit); `body` for create, replace and upsert. */
export interface CommitOperation {
  op: 'create' | 'replace' | 'upsert' | 'delete' | 'move';
  path: string;
  body?: Uint8Array;
  /** The blob id the path (for a move: `from`) must hold. */
  ifMatch?: string;
  /** move: the path the file comes from. */
  from?: string;
}

/** Several changes as one commit, all or nothing. */
export interface CommitRequest {
  operations: readonly CommitOperation[];
  message?: string;
  /** The commit the branch must be at, else 'precondition'. */
  expectHead?: string;
  idempotencyKey?: string;
}

/** A write that the backend has durably accepted (for Git: the remote accepted the push). */
export interface WriteResult {
  /** 40-hex id of the commit that holds the change (for a write that changed nothing: the one that holds the file). */
  commit: string;
  /** How many times the backend had to retry (e.g. a push lost a race with another writer). */
  retries: number;
  /** The blob id the path holds now (POST and PUT). */
  etag?: string;
  /** A PUT found no file and created one (only possible with `ifNoneMatch`). */
  created?: boolean;
  /** A PUT of the bytes the file already held: no commit was made. */
  unchanged?: boolean;
  /** A transaction's paths and the blob id each holds after it (null: deleted), in the request's order. */
  results?: Array<{ path: string; etag: string | null }>;
  /** The answer of an earlier request with the same Idempotency-Key: nothing was written now. */
  repeated?: boolean;
}

export type StoreErrorKind =
  | 'not-found' // 404: nothing at that path (or it is a directory)
  | 'conflict' // 409: the path exists already, or a file/directory clash
  | 'precondition' // 412: the path does not hold what If-Match / If-None-Match asked for
  | 'key-reused' // 422: an Idempotency-Key seen before with another request
  | 'bad-request' // 400: the body or path is unusable
  | 'too-large' // 413: the body is over the configured limit
  | 'upstream' // 502: the Git host answered with something we can't use
  | 'unavailable' // 503: the backend is closed, or the Git host is unreachable
  | 'timeout' // 504: the Git host did not answer in time
  | 'auth' // 502: the Git host rejected our credentials
  | 'gone'; // 410: a change feed cannot resume from the commit asked for

/** The one error type a store throws on purpose. `message` is written for a person; `detail` may add context
 * (never credentials). `retries` counts retries spent before giving up; `etag` is the path's current blob id
 * when a precondition failed on a file; `operation` the index of a transaction's operation that failed. */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  readonly detail?: string;
  readonly retries: number;
  readonly etag?: string;
  readonly operation?: number;

  constructor(
    kind: StoreErrorKind,
    message: string,
    detail?: string,
    opts?: { retries?: number; cause?: unknown; etag?: string; operation?: number },
  ) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreError';
    this.kind = kind;
    if (detail !== undefined) this.detail = detail;
    this.retries = opts?.retries ?? 0;
    if (opts?.etag !== undefined) this.etag = opts.etag;
    if (opts?.operation !== undefined) this.operation = opts.operation;
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

/** One changed file of a commit; `etag` is the blob the path holds after it (null: deleted). */
export interface FileChange {
  path: string;
  change: 'create' | 'modify' | 'delete';
  etag: string | null;
}

/** One commit of the branch, as a change feed delivers it. `truncated`: more files changed than are listed. */
export interface WatchEvent {
  commit: string;
  parent: string | null;
  author: { name: string; email: string; date: string };
  message: string;
  changes: FileChange[];
  truncated?: boolean;
}

export interface WatchOptions {
  /** Only changes to paths starting with this (a plain string prefix, e.g. "users/"); commits with none are skipped. */
  prefix?: string;
  /** Resume after this commit (40 hex); unset: start at the current tip. */
  since?: string;
  /** Called once, synchronously before any event, with the commit the feed starts after (null: no branch yet). */
  onStart(from: string | null): void;
  /** Each commit after the start, oldest first, each exactly once. */
  onEvent(event: WatchEvent): void;
  /**
   * The subscription ended: `err` before onStart is why it could not start (StoreError 'gone' for a `since`
   * not on the branch's first-parent history); after it, why the feed stopped (the store closed, the branch
   * was rewritten). Never called after close().
   */
  onEnd(err?: StoreError): void;
}

export interface Subscription {
  /** Stops delivery; nothing is called after it. */
  close(): void;
}

export interface Store {
  /** Throws StoreError('not-found') when there is no file at `path` (or the ref is unknown). */
  get(path: string, opts?: ReadOptions): Promise<ReadResult>;
  /** As get, but fetches only what `want` asks for once the file's version is known (conditional GET, HEAD). */
  read(path: string, opts: ConditionalReadOptions): Promise<ConditionalRead>;
  /**
   * One page of the directory `dir` ('' = the root; no trailing slash). Throws StoreError('not-found') when
   * there is no directory there (a file included), 'bad-request' for a cursor it did not make.
   */
  list?(dir: string, opts: ListOptions): Promise<Listing>;
  /** The first-parent commits that changed `path` (or, with `dir`, anything below it); a backend without history leaves it out. */
  history?(path: string, opts: HistoryOptions): Promise<History>;
  /** A feed of the branch's commits (see change-feed.ts); a backend without history leaves it out. */
  watch?(opts: WatchOptions): Subscription;
  /** Throws StoreError('conflict') when `path` exists (or clashes with a file/directory). */
  create(path: string, body: BodySource, opts?: WriteOptions): Promise<WriteResult>;
  /**
   * Throws StoreError('not-found') when there is no file at `path` (unless `condition.ifNoneMatch` lets it
   * create one), 'precondition' when the condition fails. Bytes equal to the file's make no commit.
   */
  replace(path: string, body: BodySource, opts?: WriteOptions): Promise<WriteResult>;
  /** As replace for refusals. Empty parent directories disappear. */
  remove(path: string, opts?: WriteOptions): Promise<WriteResult>;
  /**
   * One commit for all the operations, or nothing: a refusal names the operation (StoreError.operation).
   * Paths are validated by the caller and distinct. A backend without transactions leaves it out.
   */
  commit?(request: CommitRequest): Promise<WriteResult>;
  /**
   * Readiness: resolves once the backing repository answered a ref lookup, rejects when it did not. A store
   * without one (the memory store) has nothing to wait for and leaves this out.
   */
  ping?(signal?: AbortSignal): Promise<void>;
  /** Releases resources; later calls throw StoreError('unavailable'). */
  close(): Promise<void>;
}
