/**
 * Idempotency keys: a write sent with a key records it in its commit, as trailers, with a fingerprint of the
 * request and the status it answered. A repeat of the key is looked up on the branch's first-parent history
 * (a bounded window of recent commits) against the state the repeat would be applied to, so two replicas
 * cannot both apply one key: the one that loses the race for the branch re-plans and finds the other's commit.
 *
 * The index below remembers, per commit id, its first parent and the key it carries, so a lookup walks
 * remembered commits for free and fetches only commits it has not seen (commits only, in one request).
 */
import { createHash } from 'node:crypto';
import { StoreError } from './store.js';
import type { KeyedCommit } from './write-plan.js';

const KEY = 'Idempotency-Key';
const REQUEST = 'Idempotency-Request';
const STATUS = 'Idempotency-Status';

/** Printable ASCII without spaces, so that a key is one trailer value and can be logged as it is. */
const KEY_SYNTAX = /^[\x21-\x7e]{1,255}$/;

export function checkIdempotencyKey(key: string): void {
  if (!KEY_SYNTAX.test(key)) {
    throw new StoreError('bad-request', 'the Idempotency-Key is not 1 to 255 printable ASCII characters without spaces',
      'use e.g. a UUID; send the same key when you repeat the same request');
  }
}

/** A digest of what makes two requests the same request (method, paths, content ids). */
export function fingerprintOf(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.length}:${p}\n`);
  return h.digest('hex').slice(0, 32);
}

/** The commit message with the key's trailers appended (as its last paragraph, where git looks for trailers). */
export function withKeyTrailers(message: string, key: string, fingerprint: string, status: number): string {
  return `${message.replace(/\n+$/, '')}\n\n${KEY}: ${key}\n${REQUEST}: ${fingerprint}\n${STATUS}: ${status}\n`;
}

/** The key a commit message carries, if any. */
export function keyOfMessage(message: string): { key: string; fingerprint: string; status: number } | undefined {
  const paragraphs = message.replace(/\n+$/, '').split(/\n\n+/);
  const last = paragraphs[paragraphs.length - 1] ?? '';
  const fields = new Map<string, string>();
  for (const line of last.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
  }
  const key = fields.get(KEY);
  const fingerprint = fields.get(REQUEST);
  const status = Number(fields.get(STATUS));
  if (key === undefined || fingerprint === undefined || !Number.isInteger(status)) return undefined;
  return { key, fingerprint, status };
}

interface Indexed {
  parent: string | null;
  key?: { key: string; fingerprint: string; status: number };
}

export interface KeyIndexOptions {
  /** How many first-parent commits below the tip a key is looked for in. */
  window: number;
  /** Fetches the commits from `commit` down, at most `depth` of them: id → raw message and first parent. */
  fetchCommits(commit: string, depth: number): Promise<Map<string, { parent: string | null; message: string }>>;
}

export class KeyIndex {
  readonly #commits = new Map<string, Indexed>();
  readonly #max: number;

  constructor(private readonly opts: KeyIndexOptions) {
    this.#max = Math.max(64, opts.window * 4);
  }

  /** Remembers a commit (one this process makes, or one fetched). */
  add(commit: string, parent: string | null, message: string): void {
    const key = keyOfMessage(message);
    this.#commits.set(commit, key === undefined ? { parent } : { parent, key });
    if (this.#commits.size > this.#max) this.#commits.delete(this.#commits.keys().next().value!);
  }

  /** The commit carrying `key` at or below `tip`, within the window. */
  async find(tip: string, key: string): Promise<KeyedCommit | null> {
    let commit: string | null = tip;
    for (let seen = 0; commit !== null && seen < this.opts.window; seen++) {
      let info = this.#commits.get(commit);
      if (info === undefined) {
        for (const [oid, c] of await this.opts.fetchCommits(commit, this.opts.window - seen)) this.add(oid, c.parent, c.message);
        info = this.#commits.get(commit);
        if (info === undefined) throw new StoreError('upstream', `the git host did not send commit ${commit}`);
      }
      if (info.key?.key === key) return { commit, fingerprint: info.key.fingerprint, status: info.key.status };
      commit = info.parent;
    }
    return null;
  }
}
