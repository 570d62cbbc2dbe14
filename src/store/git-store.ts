/**
 * The Git-backed store: each resource is a file on one branch of a remote repository.
 *
 * Reads learn the tip from the remote every time (strong consistency), then walk the trees on the path and
 * fetch the blob; trees and small blobs come from a byte-bounded cache of immutable objects when they can.
 * Every lookup of the tip and every accepted push updates the known tip, which never goes back (KnownTip):
 * a read's lookup answered after a push it was sent before does not undo what the push made.
 * Writes go through a queue (see WriteQueue): a batch of writes becomes a chain of commits, one per write,
 * pushed in one pack with the last known tip as the expected old id. The remote's check of that old id is
 * what makes concurrent writers, in this process or elsewhere, safe.
 *
 * Faults of the host (see retry.ts): a read is retried as a whole on transient failures, within a deadline
 * enforced by aborting what is still in flight; a write batch is retried by the queue, and a push that got
 * no clear answer is only repeated once reading the branch back showed it did not land.
 */
import { decodeCommit, encodeCommit, type Identity } from '../pack/commit.js';
import { hashObject } from '../pack/oid.js';
import { Remote } from '../protocol/remote.js';
import { KnownTip } from './known-tip.js';
import { ObjectCache } from './object-cache.js';
import { DiskCache } from './disk-cache.js';
import { GitObjects } from './git-objects.js';
import { lookupPath } from './tree-edit.js';
import { KeyIndex, withKeyTrailers } from './idempotency.js';
import { AcknowledgedPush } from './push-check.js';
import { GitPush } from './git-push.js';
import type { StageOptions } from './staged-blob.js';
import { stageCommit, stageRestWrite, type StagedWrite } from './transaction.js';
import {
  StoreError, type BodySource, type ConditionalRead, type ConditionalReadOptions, type History, type HistoryOptions, type Listing,
  type ListOptions, type ReadOptions, type ReadResult, type Store, type CommitRequest, type Subscription, type WatchOptions,
  type WriteOptions, type WriteResult,
} from './store.js';
import { checkRef, decodeCursor, isCommitId, unknownRef, type Cursor } from './listing.js';
import { entriesBelow, pageOf, resolveName } from './git-listing.js';
import { decodeHistoryCursor, historyPage } from './git-history.js';
import { PackError } from '../pack/errors.js';
import { RemoteError } from '../protocol/errors.js';
import { WriteQueue } from './write-queue.js';
import type { Snapshot, WriteOp } from './write-plan.js';
import { toStoreError, withRetries } from './errors.js';
import { notFound, refusal } from './refusals.js';
import { retrying, RetryBudget, startDeadline } from './retry.js';
import type { EngineMetrics } from './engine-metrics.js';
import { ChangeFeed } from './change-feed.js';
import { resolveGitStoreOptions, type GitStoreOptions, type ResolvedGitStoreOptions } from './options.js';

export type { GitStoreOptions } from './options.js';

export class GitStore implements Store {
  readonly remote: Remote;
  readonly cache: ObjectCache;
  /** Blobs larger than the object cache keeps, on disk (CACHE_DIR); undefined when CACHE_DISK_BYTES is 0. */
  readonly disk: DiskCache | undefined;
  readonly #objects: GitObjects;
  readonly #ref: string;
  readonly #opts: ResolvedGitStoreOptions;
  readonly #queue: WriteQueue;
  readonly #metrics: EngineMetrics;
  /** The newest tip this process saw or made; a write starts from it without asking the remote first. */
  readonly #tip = new KnownTip();
  /** The last acknowledged push, until a ref lookup shows it on the branch. */
  readonly #acknowledged: AcknowledgedPush;
  readonly #pusher: GitPush;
  /** How request bodies are made ready: deflated as they arrive only when the pack sends them deflated adaptively. */
  readonly #staging: StageOptions;
  /** Which recent commits carry which idempotency key. */
  readonly #keys: KeyIndex;
  /** Writes in flight by idempotency key: a repeat waits for the first. */
  readonly #keyed = new Map<string, Promise<WriteResult>>();
  /** Made by the first watch(); one per store, however many watch. */
  #feed: ChangeFeed | undefined;

  constructor(options: GitStoreOptions) {
    const opts = resolveGitStoreOptions(options);
    this.#opts = opts;
    this.#ref = `refs/heads/${opts.branch}`;
    this.#metrics = opts.metrics;
    this.remote = new Remote({ observer: this.#metrics, ...opts.remote });
    this.cache = new ObjectCache(opts.cacheBytes);
    const cache = this.cache;
    this.disk = opts.cacheDiskBytes > 0 ? new DiskCache({ dir: opts.cacheDir, maxBytes: opts.cacheDiskBytes }) : undefined;
    this.#objects = new GitObjects(this.remote, cache, {
      cacheBlobBytes: opts.cacheBlobBytes, blobSizes: opts.blobSizes, knownTip: () => this.#tip.value,
      ...(this.disk === undefined ? {} : { disk: this.disk }),
      onStrategy: (strategy) => opts.log('info', `git host ${this.remote.serverAgent ?? '(no agent)'}: protocol v${this.remote.protocolVersion}, ` +
        (strategy === 'by-id' ? 'objects fetched by id' : 'only ref tips can be fetched (whole trees of the tip)'),
      { agent: this.remote.serverAgent, protocol: this.remote.protocolVersion, strategy }),
    });
    this.#acknowledged = new AcknowledgedPush({ objects: this.#objects, metrics: this.#metrics, log: opts.log, depth: opts.landedDepth });
    this.#keys = new KeyIndex({ window: opts.idempotencyWindow, fetchCommits: (commit, depth) => this.#commitsFrom(commit, depth) });
    this.#metrics.objectCache(() => ({ hits: cache.hits, misses: cache.misses, bytes: cache.bytes }));
    // A body deflated on arrival keeps a raw copy beside its spool, to be moved into the disk cache once pushed
    // (a body spooled as it is is moved in itself).
    this.#staging = {
      maxBodyBytes: opts.maxBodyBytes, spoolThresholdBytes: opts.spoolThresholdBytes,
      deflateOnArrival: opts.packCompression === 'adaptive',
      ...(this.disk === undefined ? {} : { rawCopyDir: this.disk.incomingDir }),
    };
    this.#pusher = new GitPush({
      remote: this.remote, ref: this.#ref, objects: this.#objects, tip: this.#tip, acknowledged: this.#acknowledged,
      metrics: this.#metrics, log: opts.log, readTip: () => this.#readTip(),
      onPushed: () => this.#feed?.wake(), // watchers see our own write at once, not at the next poll
      verifyPush: opts.verifyPush, landedDepth: opts.landedDepth, compression: opts.packCompression,
    });
    this.#queue = new WriteQueue({
      snapshot: (refresh, moved) => this.#snapshot(refresh, moved),
      loadTree: (oid) => this.#objects.loadTree(oid),
      push: (from, to, objects) => this.#pusher.push(from, to, objects),
      findLanded: (pushes) => this.#pusher.findLanded(pushes),
      makeCommit: (tree, parent, op, status) => this.#makeCommit(tree, parent, op, status),
      findKey: (tip, key) => this.#keys.find(tip, key),
      rootOf: (commit) => this.#objects.rootTree(commit),
      pathTrees: { cached: (oid) => cache.get(oid), fetchTrees: (oids) => this.#objects.fetchTrees(oids) },
      maxAttempts: opts.maxAttempts,
      deadlineMs: opts.writeDeadlineMs,
      maxBatch: opts.maxBatch,
      maxRetryAfterMs: opts.maxRetryAfterMs,
    });
  }

  get branchRef(): string {
    return this.#ref;
  }

  /** One ref lookup at the remote (readiness): resolves once the host answered it. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.#readTip(signal);
    await this.#objects.strategy(signal);
  }

  /** A read, retried as a whole on transient failures; `retries` says how many it took. */
  async get(path: string, opts: ReadOptions = {}): Promise<ReadResult> {
    const read = await this.read(path, { ...opts, want: () => 'content' });
    if (read.want !== 'content') throw new Error('a read that wanted content got none');
    return read;
  }

  /** A read that fetches no more than `want` asks for: 'none' costs the lookup of the path alone. */
  async read(path: string, opts: ConditionalReadOptions): Promise<ConditionalRead> {
    if (opts.ref !== undefined) checkRef(opts.ref);
    return this.#reading((signal) => this.#readOnce(path, opts, signal));
  }

  /** One page of a directory listing; see listing.ts for the cursor. Costs the ref lookup plus uncached trees. */
  async list(dir: string, opts: ListOptions): Promise<Listing> {
    if (opts.ref !== undefined) checkRef(opts.ref);
    const cursor = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    return this.#reading((signal) => this.#listOnce(dir, opts, cursor, signal));
  }

  /** One page of the path's history; costs a ref lookup, one fetch of commits, and one fetch per level of the path. */
  async history(path: string, opts: HistoryOptions): Promise<History> {
    if (opts.ref !== undefined) checkRef(opts.ref);
    const cursor = opts.cursor === undefined ? undefined : decodeHistoryCursor(opts.cursor);
    const shown = opts.dir === true ? (path === '' ? '/' : `${path}/`) : path;
    return this.#reading(async (signal) => {
      const start = cursor ?? (await this.#commitFor(opts.ref, signal));
      if (start === null) return { path: shown, commits: [], next: null };
      if (cursor === undefined && opts.ref !== undefined) await this.#rootAt(start, opts.ref, signal); // a 404 for a commit the host lacks
      const segments = path === '' ? [] : path.split('/');
      const page = await historyPage({ cache: this.cache, remote: this.remote, signal }, start, segments, opts.dir === true, opts.limit);
      return { path: shown, ...page };
    });
  }

  /** A subscription to the branch's commits; all of them share one poll of the tip per `watchPollMs`. */
  watch(opts: WatchOptions): Subscription {
    this.#feed ??= new ChangeFeed({
      cache: this.cache,
      readTip: (signal) => this.#readTip(signal),
      fetch: (wants, o, signal) => this.#objects.fetch(wants, o, signal),
    }, { pollMs: this.#opts.watchPollMs, onError: this.#opts.onWatchError });
    return this.#feed.subscribe(opts);
  }

  async #reading<T extends object>(once: (signal: AbortSignal) => Promise<T>): Promise<T & { retries: number }> {
    const ms = this.#opts.readDeadlineMs;
    const deadline = startDeadline(ms);
    const budget = new RetryBudget({
      maxAttempts: this.#opts.readAttempts,
      deadline: deadline.at,
      maxRetryAfterMs: this.#opts.maxRetryAfterMs,
    });
    try {
      const result = await retrying(budget, () => once(deadline.signal));
      return { ...result, retries: budget.retries };
    } catch (err) {
      if (deadline.expired && !(err instanceof StoreError)) {
        throw new StoreError('timeout', 'the git host did not answer in time', `no answer within the read deadline of ${ms} ms`,
          { retries: budget.retries, cause: err });
      }
      throw withRetries(toStoreError(err), budget.retries);
    } finally {
      // A large blob streams on after this; its own body timeout guards it from here.
      deadline.clear();
    }
  }

  async #readOnce(path: string, opts: ConditionalReadOptions, signal: AbortSignal): Promise<ConditionalRead> {
    const tip = await this.#commitFor(opts.ref, signal);
    if (tip === null) throw notFound(path, `branch ${this.#opts.branch} does not exist yet`);
    const root = await this.#rootAt(tip, opts.ref, signal);
    const found = await lookupPath((oid) => this.#objects.loadTree(oid, signal, tip), root, path.split('/'));
    if (found.kind !== 'file') throw refusal('GET', path, found)!;
    const version = { etag: found.oid, commit: tip };
    const want = opts.want(version);
    if (want === 'none') return { ...version, want };
    if (want === 'size') return { ...version, want, size: await this.#objects.blobSize(found.oid, signal, tip) };
    return { ...version, want, ...(await this.#objects.readBlob(found.oid, signal, tip)) };
  }

  async #listOnce(dir: string, opts: ListOptions, cursor: Cursor | undefined, signal: AbortSignal): Promise<Listing> {
    const prefix = dir === '' ? '' : `${dir}/`;
    const commit = cursor?.commit ?? (await this.#commitFor(opts.ref, signal));
    if (commit === null) {
      // A branch not made yet is an empty repository: its root is there, and empty.
      if (dir === '') return { path: '/', commit: null, entries: [], truncated: false, next: null };
      throw notFound(prefix, `branch ${this.#opts.branch} does not exist yet`);
    }
    const root = await this.#rootAt(commit, cursor === undefined ? opts.ref : commit, signal);
    const found = dir === '' ? { kind: 'dir' as const, oid: root }
      : await lookupPath((oid) => this.#objects.loadTree(oid, signal, commit), root, dir.split('/'));
    if (found.kind !== 'dir') {
      throw notFound(prefix, found.kind === 'absent' ? undefined : `${dir} is a ${found.kind === 'file' ? 'file' : 'submodule'}, not a directory`);
    }
    const trees = {
      cache: this.cache, sizes: this.#objects.sizes, remote: this.remote, signal,
      loadTree: (oid: string) => this.#objects.loadTree(oid, signal, commit),
      byId: (await this.#objects.strategy(signal)) === 'by-id',
    };
    const all = await entriesBelow(trees, found.oid, prefix, opts.recursive === true);
    return pageOf(all, prefix, commit, cursor?.position ?? 0, opts.limit);
  }

  /**
   * The commit a read looks at: the branch tip (one ref lookup), a commit id as given (checked when it is
   * fetched), or a tag or branch name looked up with ref-prefix (tags first, as Git resolves a short name;
   * an annotated tag peeled to its commit).
   */
  async #commitFor(ref: string | undefined, signal: AbortSignal): Promise<string | null> {
    if (ref === undefined) return this.#readTip(signal);
    return isCommitId(ref) ? ref : resolveName(this.remote, ref, signal);
  }

  /** The root tree of `commit`; a commit named by the client that the host does not have is a 404 naming it. */
  async #rootAt(commit: string, ref: string | undefined, signal: AbortSignal): Promise<string> {
    if (ref === undefined) return this.#objects.rootTree(commit, signal);
    try {
      return await this.#objects.rootTree(commit, signal);
    } catch (err) {
      if (err instanceof RemoteError || (err instanceof StoreError && err.kind === 'upstream')) {
        throw unknownRef(ref, `the repository has no commit ${commit}`);
      }
      if (err instanceof PackError) throw unknownRef(ref, `${commit} is not a commit`);
      throw err;
    }
  }

  create(path: string, body: BodySource, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.#write(opts.idempotencyKey, () => stageRestWrite('POST', path, body, opts, this.#opts.message('POST', path), this.#staging));
  }

  replace(path: string, body: BodySource, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.#write(opts.idempotencyKey, () => stageRestWrite('PUT', path, body, opts, this.#opts.message('PUT', path), this.#staging));
  }

  remove(path: string, opts: WriteOptions = {}): Promise<WriteResult> {
    return this.#write(opts.idempotencyKey, () => stageRestWrite('DELETE', path, null, opts, this.#opts.message('DELETE', path), this.#staging));
  }

  /** An atomic commit: one commit for every operation, through the queue like any write. */
  commit(request: CommitRequest): Promise<WriteResult> {
    const message = `COMMIT ${request.operations.length} operation${request.operations.length === 1 ? '' : 's'}`;
    return this.#write(request.idempotencyKey, () => stageCommit(request, message, this.#staging));
  }

  async close(): Promise<void> {
    this.#feed?.close();
    await this.#queue.drain();
    await this.remote.close();
    this.cache.clear();
  }

  /**
   * Stages and submits one write. A write with an idempotency key waits for any earlier write of this process
   * with the same key to be answered, so that its lookup of the key sees the commit that one made.
   */
  async #write(key: string | undefined, stage: () => Promise<StagedWrite>): Promise<WriteResult> {
    const before = key === undefined ? undefined : this.#keyed.get(key);
    const mine = (async () => {
      await before?.catch(() => undefined);
      const staged = await stage();
      try {
        return await this.#queue.submit(staged.op);
      } finally {
        await staged.dispose();
      }
    })();
    if (key !== undefined) this.#keyed.set(key, mine);
    try {
      return await mine;
    } catch (err) {
      throw toStoreError(err);
    } finally {
      if (key !== undefined && this.#keyed.get(key) === mine) this.#keyed.delete(key);
    }
  }

  /**
   * One round trip: the branch tip as the remote had it when the lookup reached it. It becomes the known tip
   * (the base of the next write) unless something newer was learned or made meanwhile.
   */
  async #readTip(signal?: AbortSignal): Promise<string | null> {
    const ticket = this.#tip.ask();
    const refs = await this.remote.lsRefs([this.#ref], signal === undefined ? {} : { signal });
    const tip = refs.refs.get(this.#ref) ?? null;
    if (this.#tip.answer(ticket, tip)) this.#acknowledged.seen(tip, ticket);
    return tip;
  }

  /** The state a write batch starts from: the last known tip, or the remote's when asked to refresh. */
  async #snapshot(refresh: boolean, moved = false): Promise<Snapshot> {
    if (moved) {
      const fetched = await this.#fetchTip();
      if (fetched !== undefined) return fetched;
    }
    const known = this.#tip.value;
    const tip = refresh || known === undefined ? await this.#readTip() : known;
    return { tip, root: tip === null ? null : await this.#objects.rootTree(tip) };
  }

  /**
   * After a lost race: the new tip with its commit and root tree in one request (want-ref), instead of a
   * lookup and then a fetch. Undefined when the host does not take want-ref, or the branch is gone (its error
   * then; the lookup that follows sees it as absent).
   */
  async #fetchTip(): Promise<Snapshot | undefined> {
    const ticket = this.#tip.ask();
    let got: { tip: string; root: string } | undefined;
    try {
      got = await this.#objects.fetchTip(this.#ref);
    } catch (err) {
      if (err instanceof RemoteError) return undefined;
      throw err;
    }
    if (got === undefined) return undefined;
    if (this.#tip.answer(ticket, got.tip)) this.#acknowledged.seen(got.tip, ticket);
    return got;
  }

  #makeCommit(tree: string, parent: string | null, op: WriteOp, status: number): { oid: string; data: Buffer } {
    const when = this.#opts.now();
    const who: Identity = {
      name: this.#opts.author.name,
      email: this.#opts.author.email,
      timestamp: Math.floor(when.getTime() / 1000),
      timezone: '+0000',
    };
    const message = op.idempotency === undefined ? op.message
      : withKeyTrailers(op.message, op.idempotency.key, op.idempotency.fingerprint, status);
    const data = encodeCommit({
      tree,
      parents: parent === null ? [] : [parent],
      author: who,
      committer: who,
      message: message.endsWith('\n') ? message : `${message}\n`,
    });
    const oid = hashObject('commit', data);
    this.#keys.add(oid, parent, message);
    return { oid, data };
  }

  /** The first-parent commits from `commit` down, `depth` of them at most, in one request (no trees). */
  async #commitsFrom(commit: string, depth: number): Promise<Map<string, { parent: string | null; message: string }>> {
    const out = new Map<string, { parent: string | null; message: string }>();
    for (const [oid, o] of await this.#objects.fetch([commit], { depth, filter: 'tree:0' })) {
      if (o.type !== 'commit') continue;
      const c = decodeCommit(o.data);
      out.set(oid, { parent: c.parents[0] ?? null, message: c.message });
    }
    return out;
  }
}
