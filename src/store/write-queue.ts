/**
 * Serializes the writes to one branch and commits them in groups.
 *
 * Writes that arrive while a push is in flight wait; the next push carries all of them as a chain of
 * commits, one per write, in one pack. Each write is checked against the state the writes before it in the
 * chain leave behind, so it gets the answer it would have had alone, in arrival order. Nothing is answered
 * before the push that carries the batch is accepted; a push refused because the branch moved is retried
 * as a whole from the remote's new tip, with exponential backoff and jitter, within bounds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectType } from '../pack/object.js';
import { editPath, lookupPath, type Lookup } from './tree-edit.js';
import type { StagedBlob } from './staged-blob.js';
import { StoreError, type WriteResult } from './store.js';

export interface WriteOp {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  segments: readonly string[];
  blob?: StagedBlob;
}

/** A branch state: the tip commit (null while the branch does not exist) and its root tree. */
export interface Snapshot {
  tip: string | null;
  root: string | null;
}

export interface PushObject {
  oid: string;
  type: ObjectType;
  size: number;
  data: Buffer | (() => AsyncIterable<Uint8Array>);
}

export interface WriteQueueDeps {
  /** The state to build on: the last known one, or the remote's current one when `refresh` is set. */
  snapshot(refresh: boolean): Promise<Snapshot>;
  loadTree(oid: string): Promise<Buffer>;
  makeCommit(tree: string, parent: string | null, op: WriteOp): { oid: string; data: Buffer };
  /** Resolves false when the remote refused because the branch is no longer at `from`. */
  push(from: string | null, to: string, objects: PushObject[]): Promise<boolean>;
  maxAttempts: number;
  deadlineMs: number;
  maxBatch: number;
  /** Backoff before retry `attempt` (1-based); jittered exponential by default. */
  backoffMs?: (attempt: number) => number;
}

interface Pending {
  op: WriteOp;
  resolve(result: WriteResult): void;
  reject(err: unknown): void;
}

type Outcome = { commit: string } | { error: StoreError };

const defaultBackoff = (attempt: number): number => Math.random() * Math.min(2000, 25 * 2 ** attempt);

export class WriteQueue {
  readonly #deps: WriteQueueDeps;
  readonly #pending: Pending[] = [];
  #running: Promise<void> | null = null;
  /** Retries done since the queue was made (a retry of a batch counts once). */
  retries = 0;
  batches = 0;

  constructor(deps: WriteQueueDeps) {
    this.#deps = deps;
  }

  get pending(): number {
    return this.#pending.length;
  }

  submit(op: WriteOp): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ op, resolve, reject });
      this.#running ??= this.#run();
    });
  }

  /** Resolves once every write submitted so far is settled. */
  async drain(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  async #run(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#deps.maxBatch);
        this.batches++;
        try {
          await this.#commitBatch(batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#running = null;
    }
  }

  async #commitBatch(batch: Pending[]): Promise<void> {
    const deadline = Date.now() + this.#deps.deadlineMs;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const base = await this.#deps.snapshot(refreshed);
      const plan = await this.#plan(base, batch.map((p) => p.op));
      let settled: boolean;
      if (plan.head === base.tip || plan.head === null) {
        // Nothing to push: every write failed its precondition. Those answers hold only if the state they
        // were checked against is the remote's current one, so confirm it unless it was just read.
        settled = refreshed || (await this.#deps.snapshot(true)).tip === base.tip;
      } else {
        settled = await this.#deps.push(base.tip, plan.head, plan.objects);
      }
      if (settled) {
        batch.forEach((p, i) => {
          const outcome = plan.outcomes[i]!;
          if ('commit' in outcome) p.resolve({ commit: outcome.commit, retries: attempt });
          else p.reject(withRetries(outcome.error, attempt));
        });
        return;
      }
      if (attempt + 1 >= this.#deps.maxAttempts || Date.now() >= deadline) {
        throw new StoreError(
          'unavailable',
          'the branch kept moving under this write; try again',
          `gave up after ${attempt + 1} attempts`,
          { retries: attempt },
        );
      }
      this.retries++;
      await sleep(Math.max(0, Math.min((this.#deps.backoffMs ?? defaultBackoff)(attempt + 1), deadline - Date.now())));
      refreshed = true;
    }
  }

  /** Applies the writes in order on top of `base`, as a chain of commits; no I/O but tree loads. */
  async #plan(base: Snapshot, ops: WriteOp[]): Promise<{ head: string | null; objects: PushObject[]; outcomes: Outcome[] }> {
    const made = new Map<string, PushObject>();
    const loadTree = async (oid: string): Promise<Buffer> => {
      const mine = made.get(oid);
      return mine !== undefined && Buffer.isBuffer(mine.data) ? mine.data : this.#deps.loadTree(oid);
    };
    const add = (o: PushObject): void => {
      if (!made.has(o.oid)) made.set(o.oid, o);
    };
    let { tip: head, root } = base;
    const outcomes: Outcome[] = [];
    for (const op of ops) {
      const found = await lookupPath(loadTree, root, op.segments);
      const refusal = precondition(op, found);
      if (refusal !== null) {
        outcomes.push({ error: refusal });
        continue;
      }
      const change =
        op.blob === undefined ? null : { mode: found.kind === 'file' ? found.mode : '100644', oid: op.blob.oid };
      const edit = await editPath(loadTree, root, op.segments, change);
      for (const t of edit.trees) add({ oid: t.oid, type: 'tree', size: t.data.length, data: t.data });
      if (op.blob !== undefined) {
        const blob = op.blob;
        add({ oid: blob.oid, type: 'blob', size: blob.size, data: blob.data ?? (() => blob.open()) });
      }
      const commit = this.#deps.makeCommit(edit.root, head, op);
      add({ oid: commit.oid, type: 'commit', size: commit.data.length, data: commit.data });
      head = commit.oid;
      root = edit.root;
      outcomes.push({ commit: commit.oid });
    }
    return { head, objects: [...made.values()], outcomes };
  }
}

/** The refusal a write gets from the state it is checked against, or null when it may go ahead. */
function precondition(op: WriteOp, found: Lookup): StoreError | null {
  if (op.method === 'POST') {
    if (found.kind === 'file') return new StoreError('conflict', `${op.path} already exists`, 'use PUT to replace it');
    if (found.kind === 'dir') return new StoreError('conflict', `${op.path} is a directory`, 'a file cannot replace a directory');
    if (found.kind === 'other') return new StoreError('conflict', `${op.path} is a submodule`, 'it cannot be written through this API');
    if (found.blockedBy !== undefined) {
      return new StoreError('conflict', `${found.blockedBy} is a file`, `so ${op.path} cannot be created below it`);
    }
    return null;
  }
  return found.kind === 'file' ? null : new StoreError('not-found', `no file at ${op.path}`);
}

function withRetries(err: StoreError, retries: number): StoreError {
  return new StoreError(err.kind, err.message, err.detail, { retries });
}
