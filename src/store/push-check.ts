/**
 * Whether pushes are on the branch: the walk down a tip's first parents that both the reading back of a push
 * in doubt and the check of an accepted push use, and the watch for pushes a host acknowledged but did not
 * apply (seen from servers that answer `ok` for a push whose old id was stale, without moving the ref).
 */
import { decodeCommit } from '../pack/commit.js';
import type { EngineMetrics, StoreLog } from './engine-metrics.js';
import type { GitObjects } from './git-objects.js';
import { StoreError } from './store.js';

/**
 * The first of `heads` met walking down `tip`'s first parents, or null at `floor` (every head was built on it
 * or above) or the root. Throws after `depth` commits; commits not cached come in one request (no trees).
 */
export async function headOnBranch(objects: GitObjects, tip: string | null, heads: ReadonlySet<string>,
  floor: string | null, depth: number): Promise<string | null> {
  const fetched = new Map<string, Buffer>();
  let commit = tip;
  for (let seen = 0; commit !== null; seen++) {
    if (heads.has(commit)) return commit;
    if (commit === floor) return null;
    if (seen >= depth) {
      throw new StoreError('unavailable', 'cannot tell whether the write was applied',
        `the branch moved more than ${depth} commits since it was pushed`);
    }
    let data = fetched.get(commit) ?? objects.cache.get(commit) ?? (await objects.arriving(commit));
    if (data === undefined) {
      for (const [oid, o] of await objects.fetch([commit], { depth: depth - seen, filter: 'tree:0' })) {
        if (o.type === 'commit') fetched.set(oid, o.data);
      }
      data = fetched.get(commit);
      if (data === undefined) throw new StoreError('upstream', `the git host did not send commit ${commit}`);
    }
    commit = decodeCommit(data).parents[0] ?? null;
  }
  return null;
}

/**
 * The last push the host acknowledged, until a later ref lookup shows it on the branch. A lookup sent after
 * the acknowledgement whose tip does not hold it means the write was lost after we answered it: that is
 * counted and logged as an error (GIT_VERIFY_PUSH prevents it, at one ref lookup per push). The check runs
 * beside the read that saw the tip, never delaying it, and costs nothing when the tip is our own push.
 */
export class AcknowledgedPush {
  #last: { head: string; base: string | null; seq: number } | undefined;
  /**
   * Our pushes without an answer since the last acknowledged one, head to base. Their commits are not cached,
   * but we built them: a tip that is one of them holds the acknowledged push below without fetching anything.
   */
  readonly #inDoubt = new Map<string, string | null>();

  constructor(private readonly deps: { objects: GitObjects; metrics: EngineMetrics; log: StoreLog; depth: number }) {}

  /** Our push of `head` over `base` was acknowledged, as event `seq` of the known tip. */
  made(head: string, base: string | null, seq: number): void {
    this.#last = { head, base, seq };
    this.#inDoubt.clear();
  }

  /** Our push of `head` over `base` got no clear answer: it may be on the branch. */
  unanswered(head: string, base: string | null): void {
    if (this.#last !== undefined) this.#inDoubt.set(head, base);
  }

  /** Lookup `ticket` answered `tip`. */
  seen(answered: string | null, ticket: number): void {
    const last = this.#last;
    if (last === undefined || ticket <= last.seq) return;
    this.#last = undefined;
    let tip = answered;
    for (let hops = 0; tip !== null && tip !== last.head && this.#inDoubt.has(tip) && hops <= this.#inDoubt.size; hops++) {
      tip = this.#inDoubt.get(tip)!;
    }
    this.#inDoubt.clear();
    if (tip === last.head) return;
    void this.#check(tip, answered, last).catch(() => undefined); // unknown (moved too far, host down): nothing to say for sure
  }

  async #check(tip: string | null, answered: string | null, last: { head: string; base: string | null }): Promise<void> {
    // Only once the operation that made the lookup has gone on: a read fetches the new tip's commit anyway,
    // and the walk waits for that fetch instead of asking the host for the same commit again.
    await new Promise(setImmediate);
    if ((await headOnBranch(this.deps.objects, tip, new Set([last.head]), last.base, this.deps.depth)) !== null) return;
    this.deps.metrics.pushNotApplied('later');
    this.deps.log('error', 'the git host acknowledged a push that the branch does not hold: an acknowledged write was lost',
      { commit: last.head, branch_tip: answered, advice: 'set GIT_VERIFY_PUSH=true for this host' });
  }
}
