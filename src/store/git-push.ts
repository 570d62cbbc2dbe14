/**
 * The Git store's pushes: a batch's objects as one pack over the last known tip, what the host's answer means
 * for the known tip, and the reading back of the branch after pushes without a clear answer (or, with
 * GIT_VERIFY_PUSH, after every accepted one).
 */
import { ZERO_OID } from '../pack/object.js';
import { writePack, type BlobCompression } from '../pack/pack-writer.js';
import type { Remote } from '../protocol/remote.js';
import type { EngineMetrics, StoreLog } from './engine-metrics.js';
import type { GitObjects } from './git-objects.js';
import type { KnownTip } from './known-tip.js';
import { AcknowledgedPush, headOnBranch } from './push-check.js';
import { StoreError } from './store.js';
import type { PushObject } from './write-plan.js';
import type { PushInDoubt } from './write-queue.js';

export interface GitPushDeps {
  remote: Remote;
  ref: string;
  objects: GitObjects;
  tip: KnownTip;
  acknowledged: AcknowledgedPush;
  metrics: EngineMetrics;
  log: StoreLog;
  /** One ref lookup, feeding the known tip. */
  readTip(): Promise<string | null>;
  /** Told after each accepted push (the change feed wakes). */
  onPushed(): void;
  verifyPush: boolean;
  landedDepth: number;
  compression: BlobCompression;
}

export class GitPush {
  constructor(private readonly d: GitPushDeps) {}

  /**
   * Pushes `to` over `from` with the objects it needs. Returns false when the remote refused because the
   * branch moved (the caller refreshes and retries); throws on any other failure.
   */
  async push(from: string | null, to: string, objects: PushObject[]): Promise<boolean> {
    const { d } = this;
    let result: Awaited<ReturnType<Remote['push']>>;
    try {
      result = await d.remote.push([{ ref: d.ref, oldOid: from ?? ZERO_OID, newOid: to }], this.#pack(objects));
    } catch (err) {
      // Whatever happened, the tip we knew may be wrong now (the push may even have landed).
      d.tip.forget();
      d.acknowledged.unanswered(to, from);
      throw err;
    }
    const ref = result.refs.find((r) => r.ref === d.ref);
    if (result.ok && ref?.status === 'ok') {
      if (d.verifyPush && !(await this.#applied(from, to))) return false;
      d.acknowledged.made(to, from, d.tip.made(to));
      d.metrics.pushed(objects.filter((o) => o.type === 'commit').length);
      await d.objects.remember(objects);
      d.onPushed();
      return true;
    }
    // Refused: the tip we knew is not (or may not be) the remote's.
    d.tip.forget();
    if (ref?.status === 'ref-moved') {
      d.metrics.lostRace();
      return false;
    }
    const why = ref?.status === 'error' ? ref.message : result.unpack;
    throw new StoreError('upstream', 'the git host refused the push', why);
  }

  /**
   * After pushes that got no clear answer: reads the tip and walks its first parents for one of their heads,
   * down to the oldest push's base, at most `landedDepth` commits. Counted by what it found.
   */
  async findLanded(pushes: readonly PushInDoubt[]): Promise<string | null> {
    try {
      const heads = new Set(pushes.map((p) => p.head));
      const head = await headOnBranch(this.d.objects, await this.d.readTip(), heads, pushes[0]?.base ?? null, this.d.landedDepth);
      this.d.metrics.pushInDoubt(head === null ? 'not_landed' : 'landed');
      return head;
    } catch (err) {
      this.d.metrics.pushInDoubt('unknown');
      throw err;
    }
  }

  /**
   * GIT_VERIFY_PUSH: whether an acknowledged push is on the branch (one ref lookup when it is the tip). A push
   * the host said `ok` to but did not apply is handled as a lost race: the batch is planned again and retried.
   */
  async #applied(from: string | null, to: string): Promise<boolean> {
    const { d } = this;
    d.tip.forget();
    const landed = await headOnBranch(d.objects, await d.readTip(), new Set([to]), from, d.landedDepth);
    if (landed !== null) return true;
    d.metrics.pushNotApplied('verified');
    d.log('warn', 'the git host acknowledged a push but the branch does not hold it; retrying the writes', { commit: to });
    return false;
  }

  #pack(objects: PushObject[]): AsyncGenerator<Buffer> {
    return writePack(
      objects.length,
      objects.map((o) =>
        o.deflated !== undefined
          ? { type: o.type, size: o.size, deflated: o.deflated() }
          : { type: o.type, size: o.size, data: Buffer.isBuffer(o.data) ? o.data : o.data() },
      ),
      this.d.compression,
    );
  }
}
