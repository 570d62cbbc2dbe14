/**
 * Planning a batch of writes: each write applied in order on top of a branch state, as a chain of commits,
 * one per write (a REST write or a whole transaction), with every refusal decided against the state the
 * writes before it leave behind. No I/O but tree loads and, for writes with an idempotency key, the lookup of
 * an earlier commit made for that key.
 */
import { decodeTree, isTreeMode } from '../pack/tree.js';
import type { ObjectType } from '../pack/object.js';
import { fetchPathTrees, type PathTreeSource } from './path-trees.js';
import { writeRefusal } from './refusals.js';
import type { StagedBlob } from './staged-blob.js';
import { StoreError, type WriteCondition, type WriteResult } from './store.js';
import { editPath, lookupPath, MAX_TREE_ENTRIES, type Lookup } from './tree-edit.js';

/** One change to one path. */
export interface PathEdit {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  segments: readonly string[];
  blob?: StagedBlob;
  /** Checked against the path in the state the edit is applied to, on every attempt (per-path compare-and-swap). */
  condition?: WriteCondition;
  /** A PUT that creates the file when there is none (a transaction's upsert). */
  upsert?: boolean;
  /** A move (method POST): the file at `from` goes to `path` with its blob id and mode; `condition` is on `from`. */
  from?: { path: string; segments: readonly string[] };
}

/** An earlier commit that carries a write's idempotency key (see idempotency.ts). */
export interface KeyedCommit {
  commit: string;
  fingerprint: string;
  status: number;
}

/** One write: its edits become one commit, or none when any of them is refused. */
export interface WriteOp {
  edits: readonly PathEdit[];
  message: string;
  /** A transaction (POST /_commit): a refusal names the operation, and `results` lists every edit. */
  transaction?: boolean;
  /** The commit the branch must be at when this write applies (its commit's parent), else 412. */
  expectHead?: string;
  idempotency?: { key: string; fingerprint: string };
}

export interface PushObject {
  oid: string;
  type: ObjectType;
  size: number;
  data: Buffer | (() => AsyncIterable<Uint8Array>);
  /** The content as one zlib stream, when it was deflated on arrival: the pack copies it instead of deflating. */
  deflated?: () => AsyncIterable<Uint8Array>;
  /** A file of the raw content that may be moved into the disk cache once the push is accepted. */
  rawFile?: string;
}

/** A branch state: the tip commit (null while the branch does not exist) and its root tree. */
export interface Snapshot {
  tip: string | null;
  root: string | null;
}

export type Outcome = Omit<WriteResult, 'retries'> | { error: StoreError };

export interface Plan {
  head: string | null;
  objects: PushObject[];
  outcomes: Outcome[];
}

export interface PlanDeps {
  loadTree(oid: string): Promise<Buffer>;
  /** `status` is what the write answers (201 or 204, 200 for a transaction), kept for a repeat of its key. */
  makeCommit(tree: string, parent: string | null, op: WriteOp, status: number): { oid: string; data: Buffer };
  /** The commit at or below `tip` that carries `key`, within the store's window; null when there is none. */
  findKey?(tip: string, key: string): Promise<KeyedCommit | null>;
  /** The root tree of a commit (to answer a repeated key from the commit that first answered it). */
  rootOf?(commit: string): Promise<string>;
  /** Where the trees on the batch's paths come from, a level per request, when planning on a refreshed tip. */
  pathTrees?: PathTreeSource;
}

/** How a plan is made: `refreshed` when its base was just read from the remote (its trees may be new to us). */
export interface PlanOptions {
  refreshed?: boolean;
}

type Applied = { root: string | null; trees: Map<string, Buffer>; results: Array<{ path: string; etag: string | null }>;
  created: boolean };

export async function planWrites(deps: PlanDeps, base: Snapshot, ops: readonly WriteOp[], opts: PlanOptions = {}): Promise<Plan> {
  const made = new Map<string, PushObject>();
  const fetched = opts.refreshed === true && deps.pathTrees !== undefined
    ? await fetchPathTrees(deps.pathTrees, base.root, ops.flatMap(directoriesOf))
    : new Map<string, Buffer>();
  const loadTree = async (oid: string): Promise<Buffer> => {
    const mine = made.get(oid);
    return mine !== undefined && Buffer.isBuffer(mine.data) ? mine.data : (fetched.get(oid) ?? deps.loadTree(oid));
  };
  const add = (o: PushObject): void => {
    if (!made.has(o.oid)) made.set(o.oid, o);
  };
  let { tip: head, root } = base;
  const outcomes: Outcome[] = [];
  for (const op of ops) {
    if (op.idempotency !== undefined && head !== null) {
      const repeat = await answerRepeat(deps, head, op);
      if (repeat !== null) {
        outcomes.push(repeat);
        continue;
      }
    }
    if (op.expectHead !== undefined && op.expectHead !== head) {
      outcomes.push({ error: new StoreError('precondition', `the branch is not at ${op.expectHead}`,
        head === null ? 'the branch has no commits yet' : `its head is ${head}`) });
      continue;
    }
    const applied = await applyEdits(loadTree, root, op);
    if ('error' in applied) {
      outcomes.push(applied);
      continue;
    }
    const etag = op.transaction === true ? undefined : (applied.results[0]?.etag ?? undefined);
    const answer = {
      ...(etag === undefined ? {} : { etag }),
      ...(op.transaction === true ? { results: applied.results } : {}),
    };
    if (applied.root === root && head !== null) {
      // Nothing changed (the bytes already there): no commit; the file's commit is the head it was found at.
      outcomes.push({ commit: head, ...answer, unchanged: true });
      continue;
    }
    const newRoot = applied.root!;
    for (const t of reachableTrees(newRoot, applied.trees)) add({ oid: t.oid, type: 'tree', size: t.data.length, data: t.data });
    for (const edit of op.edits) if (edit.blob !== undefined) add(blobObject(edit.blob));
    const status = op.transaction === true ? 200 : op.edits[0]!.method === 'POST' || applied.created ? 201 : 204;
    const commit = deps.makeCommit(newRoot, head, op, status);
    add({ oid: commit.oid, type: 'commit', size: commit.data.length, data: commit.data });
    head = commit.oid;
    root = newRoot;
    outcomes.push({ commit: commit.oid, ...answer, ...(applied.created && op.transaction !== true ? { created: true } : {}) });
  }
  return { head, objects: [...made.values()], outcomes };
}

/** The edits of one write on `root`, or the refusal of the first that fails (then nothing of the write applies). */
async function applyEdits(load: (oid: string) => Promise<Buffer>, root: string | null, op: WriteOp): Promise<Applied | { error: StoreError }> {
  const trees = new Map<string, Buffer>();
  const loadAny = async (oid: string) => trees.get(oid) ?? load(oid);
  const edit = async (at: string | null, segments: readonly string[], change: { mode: string; oid: string } | null) => {
    const e = await editPath(loadAny, at, segments, change);
    for (const t of e.trees) trees.set(t.oid, t.data);
    return e.root;
  };
  let now = root;
  let created = false;
  const results: Applied['results'] = [];
  for (const [i, e] of op.edits.entries()) {
    const refused = (err: StoreError) => ({ error: op.transaction === true ? numbered(err, i, e) : err });
    const found = await lookupPath(loadAny, now, e.segments);
    if (e.from !== undefined) {
      const source = await lookupPath(loadAny, now, e.from.segments);
      const no = writeRefusal('DELETE', e.from.path, source, e.condition) ?? writeRefusal('POST', e.path, found);
      if (no !== null) return refused(no);
      const { mode, oid } = source as Lookup & { kind: 'file' };
      now = await edit(await edit(now, e.from.segments, null), e.segments, { mode, oid });
      results.push({ path: e.path, etag: oid });
      continue;
    }
    const no = writeRefusal(e.method, e.path, found, e.condition, e.upsert === true);
    if (no !== null) return refused(no);
    if (found.kind !== 'file' && e.method !== 'DELETE') created = true;
    if (e.blob === undefined) {
      now = await edit(now, e.segments, null);
      results.push({ path: e.path, etag: null });
    } else {
      if (found.kind !== 'file' || found.oid !== e.blob.oid) {
        now = await edit(now, e.segments, { mode: found.kind === 'file' ? found.mode : '100644', oid: e.blob.oid });
      }
      results.push({ path: e.path, etag: e.blob.oid });
    }
  }
  return { root: now, trees, results, created };
}

/** A transaction's refusal names the operation (its index in the request) that failed. */
function numbered(err: StoreError, index: number, e: PathEdit): StoreError {
  return new StoreError(err.kind, `operation ${index} (${e.path}): ${err.message}`, err.detail,
    { ...(err.etag === undefined ? {} : { etag: err.etag }), operation: index });
}

/**
 * A write whose key an earlier commit carries: the same request is answered as it was then (from that
 * commit, nothing written); another request with the same key is refused (422).
 */
async function answerRepeat(deps: PlanDeps, head: string, op: WriteOp): Promise<Outcome | null> {
  const { key, fingerprint } = op.idempotency!;
  const prior = deps.findKey === undefined ? null : await deps.findKey(head, key);
  if (prior === null) return null;
  if (prior.fingerprint !== fingerprint) {
    return { error: new StoreError('key-reused', `the Idempotency-Key ${JSON.stringify(key)} was used for another request`,
      `commit ${prior.commit} carries it; use a new key for a new request`) };
  }
  const root = await deps.rootOf!(prior.commit);
  const results: Array<{ path: string; etag: string | null }> = [];
  for (const e of op.edits) {
    const found = await lookupPath(deps.loadTree, root, e.segments);
    results.push({ path: e.path, etag: found.kind === 'file' ? found.oid : null });
  }
  const etag = results[0]?.etag ?? undefined;
  return {
    commit: prior.commit,
    ...(op.transaction === true ? { results } : etag === undefined ? {} : { etag }),
    ...(prior.status === 201 && op.edits[0]?.method === 'PUT' ? { created: true } : {}),
    repeated: true,
  };
}

function blobObject(blob: StagedBlob): PushObject {
  const deflated = blob.deflated;
  return {
    oid: blob.oid, type: 'blob', size: blob.size, data: blob.data ?? (() => blob.open()),
    ...(deflated === undefined ? {} : { deflated: () => deflated() }),
    ...(blob.rawFile === undefined ? {} : { rawFile: blob.rawFile }),
  };
}

/** The trees written for a write that its final root still reaches: a later edit may replace an earlier one's. */
function reachableTrees(root: string, trees: ReadonlyMap<string, Buffer>): Array<{ oid: string; data: Buffer }> {
  const out: Array<{ oid: string; data: Buffer }> = [];
  const seen = new Set<string>();
  const visit = (oid: string): void => {
    const data = trees.get(oid);
    if (data === undefined || seen.has(oid)) return;
    seen.add(oid);
    out.push({ oid, data });
    for (const e of decodeTree(data, { maxEntries: MAX_TREE_ENTRIES })) if (isTreeMode(e.mode)) visit(e.oid);
  };
  visit(root);
  return out;
}

/** The directories an operation's edits look into (each path without its file name). */
function directoriesOf(op: WriteOp): Array<readonly string[]> {
  return op.edits.flatMap((e) => [e.segments, ...(e.from === undefined ? [] : [e.from.segments])].map((s) => s.slice(0, -1)));
}
