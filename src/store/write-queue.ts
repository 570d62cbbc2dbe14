/**
 * Serializes the writes to one branch and commits them in groups.
 *
 * Writes that arrive while a push is in flight wait; the next push carries all of them as a chain of
 * commits, one per write, in one pack. Each write is checked against the state the writes before it in the
 * chain leave behind, so it gets the answer it would have had alone, in arrival order. Nothing is answered
 * before the push that carries the batch is accepted.
 *
 * A batch is retried as a whole, from the remote's current tip, with backoff and within bounds (attempts and
 * a deadline): when its push lost the race for the branch, and on transient failures of the host. A push
 * that got no clear answer (lost, cut, timed out) may have landed: before anything else the branch is read
 * back, and if one of our heads is on it the batch is answered from that push; a push is never repeated on
 * top of itself. When that cannot be learned the batch fails as "in doubt", never acknowledged. A failed
 * batch leaves nothing behind: the next one starts from the remote's tip.
 */
import { StoreError, type WriteResult } from './store.js';
import { inDoubt, toStoreError, withRetries } from './errors.js';
import { isTransient, pushMayHaveLanded, RetryBudget } from './retry.js';
import type { PathTreeSource } from './path-trees.js';
import { planWrites, type KeyedCommit, type Plan, type PushObject, type Snapshot, type WriteOp } from './write-plan.js';

/** A push that went out without a clear answer: `head` built on `base`. */
export interface PushInDoubt {
  base: string | null;
  head: string;
}

export interface WriteQueueDeps {
  /**
   * The state to build on: the last known one, or the remote's current one when `refresh` is set; `moved`
   * when a lost race says the branch moved (its new tip and root tree will be needed, whatever they are).
   */
  snapshot(refresh: boolean, moved?: boolean): Promise<Snapshot>;
  loadTree(oid: string): Promise<Buffer>;
  /** `status` is what the write answers; see PlanDeps. */
  makeCommit(tree: string, parent: string | null, op: WriteOp, status: number): { oid: string; data: Buffer };
  /** The commit at or below `tip` carrying an idempotency key (see PlanDeps); without it keys are not looked up. */
  findKey?(tip: string, key: string): Promise<KeyedCommit | null>;
  rootOf?(commit: string): Promise<string>;
  /** See PlanDeps.pathTrees. */
  pathTrees?: PathTreeSource;
  /**
   * Resolves true when the remote accepted, false when it refused because the branch is no longer at `from`;
   * throws on any other failure (see pushMayHaveLanded for which of those leave the outcome open).
   */
  push(from: string | null, to: string, objects: PushObject[]): Promise<boolean>;
  /**
   * Reads the branch back after pushes in doubt (oldest first) and resolves the head of the one that landed,
   * or null when none did. The tip it reads becomes the known one. Throws when it cannot tell.
   */
  findLanded(pushes: readonly PushInDoubt[]): Promise<string | null>;
  maxAttempts: number;
  deadlineMs: number;
  maxBatch: number;
  /** Backoff before retry `n` (1-based); jittered exponential by default. */
  backoffMs?: (n: number) => number;
  /** Longest Retry-After honored. */
  maxRetryAfterMs?: number;
  /** Wait after the `streak`-th lost race in a row; jittered, growing with the streak, by default. */
  raceBackoffMs?: (streak: number) => number;
}

interface Pending {
  op: WriteOp;
  resolve(result: WriteResult): void;
  reject(err: unknown): void;
}

interface Suspect extends PushInDoubt {
  plan: Plan;
  /** The failure the push ended with. */
  cause: unknown;
}

/**
 * How one attempt at a batch ended, and what the batch does next (WriteQueue.#commitBatch):
 *
 *   accepted      the push landed                    answer every write from the plan
 *   all-refused   every write was refused or changed  answer every write from the plan (nothing to push;
 *                 nothing, against the remote's       the remote's tip was confirmed first)
 *                 current state
 *   lost-race     the push was refused: the branch   if a push is in doubt, look for ours on the branch and
 *                 is no longer where the plan began  answer from it if one landed; else retry, or give up
 *                                                    "kept moving" when the budget is spent
 *   in-doubt      the push got no clear answer and   look for ours on the branch and answer from it if one
 *                 may have landed                    landed; else as failed (the look can itself fail as
 *                                                    "in doubt", and then the batch fails with it)
 *   failed        anything else went wrong, before   transient: retry while the budget lasts; else, or
 *                 or during the push                 once it is spent, fail with the cause
 *
 * A retry waits as the budget says and builds on the remote's current tip.
 */
type Attempt =
  | { kind: 'accepted'; plan: Plan }
  | { kind: 'all-refused'; plan: Plan }
  | { kind: 'lost-race' }
  | { kind: 'in-doubt'; failure: unknown }
  | { kind: 'failed'; failure: unknown };

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

  /**
   * Attempts the batch until it is answered or fails; each attempt's end decides what follows (see Attempt).
   * Every attempt after the first builds on the remote's current tip, read afresh unless a look for our
   * pushes in doubt just read it.
   */
  async #commitBatch(batch: Pending[]): Promise<void> {
    const budget = new RetryBudget({
      maxAttempts: this.#deps.maxAttempts,
      deadline: Date.now() + this.#deps.deadlineMs,
      ...(this.#deps.backoffMs === undefined ? {} : { backoffMs: this.#deps.backoffMs }),
      ...(this.#deps.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: this.#deps.maxRetryAfterMs }),
      ...(this.#deps.raceBackoffMs === undefined ? {} : { raceBackoffMs: this.#deps.raceBackoffMs }),
    });
    const ops = batch.map((p) => p.op);
    const suspects: Suspect[] = [];
    let refresh = false;
    let moved = false;
    let streak = 0;
    for (;;) {
      const end = await this.#attempt(ops, refresh, moved, suspects);
      moved = end.kind === 'lost-race';
      if (end.kind === 'accepted' || end.kind === 'all-refused') return settle(batch, end.plan, budget.retries);
      refresh = true;
      // An unanswered push, or a lost race after one (it may have been our own earlier push that moved the
      // branch): find out whether one of ours is on the branch before building anything new.
      if (end.kind === 'in-doubt' || (end.kind === 'lost-race' && suspects.length > 0)) {
        const landed = await this.#findLanded(suspects, budget);
        if (landed !== null) return settle(batch, landed.plan, budget.retries);
        refresh = false; // the tip was just read
      }
      if (end.kind === 'lost-race') {
        if (!(await budget.nextRace(++streak))) {
          throw new StoreError('unavailable', 'the branch kept moving under this write; try again',
            `gave up at the write deadline of ${this.#deps.deadlineMs} ms, after ${budget.retries + 1} attempts`,
            { retries: budget.retries });
        }
        // Writes that arrived meanwhile join the retry: under contention each won push then carries more of
        // them, instead of each waiting to lose its own races. (Not after a push in doubt: its plan is fixed.)
        if (suspects.length === 0 && batch.length < this.#deps.maxBatch) {
          const joining = this.#pending.splice(0, this.#deps.maxBatch - batch.length);
          batch.push(...joining);
          ops.push(...joining.map((p) => p.op));
        }
      } else if (!isTransient(end.failure) || !(await budget.next(end.failure))) {
        throw withRetries(toStoreError(end.failure), budget.retries);
      }
      this.retries++;
    }
  }

  /** One try: plan on a snapshot and push. Never throws: how it ended is the answer (see Attempt). */
  async #attempt(ops: WriteOp[], refresh: boolean, moved: boolean, suspects: Suspect[]): Promise<Attempt> {
    let base: Snapshot;
    let plan: Plan;
    try {
      base = await this.#deps.snapshot(refresh, refresh && moved);
      plan = await this.#plan(base, ops, refresh);
      if ((plan.head === base.tip || plan.head === null) && !refresh) {
        // Every write was refused or changed nothing. Those answers hold only if the state they were checked
        // against is the remote's current one: read it, and if the branch moved, plan again on what was just read.
        const fresh = await this.#deps.snapshot(true);
        if (fresh.tip !== base.tip) {
          base = fresh;
          plan = await this.#plan(base, ops, true);
        }
      }
    } catch (failure) {
      return { kind: 'failed', failure };
    }
    const head = plan.head;
    if (head === base.tip || head === null) return { kind: 'all-refused', plan };
    try {
      return (await this.#deps.push(base.tip, head, plan.objects)) ? { kind: 'accepted', plan } : { kind: 'lost-race' };
    } catch (failure) {
      if (!pushMayHaveLanded(failure)) return { kind: 'failed', failure };
      suspects.push({ base: base.tip, head, plan, cause: failure });
      return { kind: 'in-doubt', failure };
    }
  }

  /** Which of the pushes in doubt landed (null: none), reading the branch back within the same budget. */
  async #findLanded(suspects: Suspect[], budget: RetryBudget): Promise<Suspect | null> {
    for (;;) {
      try {
        const head = await this.#deps.findLanded(suspects.map(({ base, head }) => ({ base, head })));
        return head === null ? null : (suspects.find((s) => s.head === head) ?? null);
      } catch (err) {
        if (!isTransient(err) || !(await budget.next(err))) throw inDoubt(err, budget.retries);
        this.retries++;
      }
    }
  }

  #plan(base: Snapshot, ops: WriteOp[], refreshed: boolean): Promise<Plan> {
    return planWrites(this.#deps, base, ops, { refreshed });
  }
}

/** Answers every write of the batch from the plan that landed. */
function settle(batch: Pending[], plan: Plan, retries: number): void {
  batch.forEach((p, i) => {
    const outcome = plan.outcomes[i]!;
    if ('error' in outcome) p.reject(withRetries(outcome.error, retries));
    else p.resolve({ ...outcome, retries });
  });
}
