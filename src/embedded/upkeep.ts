// Repository upkeep for the embedded default. git receive-pack stores a small push as loose objects (below
// receive.unpackLimit), and every write here is a small push, so loose objects pile up; Git's own auto gc
// waits for thousands of them. Upkeep counts them now and then and, past a limit, packs them with Git itself.
//
// It runs off the request path (a background child process), bounded by a timeout, and never two at once:
// a trigger while one runs is remembered and served by one more run after it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface UpkeepOptions {
  /** Look after this many pushes. */
  everyWrites?: number;
  /** ... or after this long, if there was a push since the last look. */
  intervalMs?: number;
  /** Pack once this many loose objects are there. */
  looseLimit?: number;
  /** Bound on one upkeep run (its git commands together). */
  timeoutMs?: number;
}

export const UPKEEP_DEFAULTS: Required<UpkeepOptions> = {
  everyWrites: 100,
  intervalMs: 10 * 60_000,
  looseLimit: 500,
  timeoutMs: 5 * 60_000,
};

export type UpkeepLog = (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;

/** The loose object count `git count-objects -v` reports. */
export async function looseObjects(repoDir: string, signal?: AbortSignal): Promise<number> {
  const { stdout } = await run('git', ['-C', repoDir, 'count-objects', '-v'], signal === undefined ? {} : { signal });
  const m = /^count: (\d+)$/m.exec(stdout);
  if (m === null) throw new Error('git count-objects -v printed no count');
  return Number(m[1]);
}

export class Upkeep {
  readonly #repoDir: string;
  readonly #opts: Required<UpkeepOptions>;
  readonly #log: UpkeepLog;
  readonly #timer: NodeJS.Timeout;
  #writes = 0;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;
  readonly #abort = new AbortController();
  /** Finished runs (tests wait on this instead of on time). */
  runs = 0;

  constructor(repoDir: string, opts: UpkeepOptions = {}, log: UpkeepLog = () => {}) {
    this.#repoDir = repoDir;
    this.#opts = { ...UPKEEP_DEFAULTS, ...opts };
    this.#log = log;
    this.#timer = setInterval(() => {
      if (this.#writes > 0) this.trigger();
    }, this.#opts.intervalMs);
    this.#timer.unref();
  }

  /** A push arrived. */
  noteWrite(): void {
    if (++this.#writes >= this.#opts.everyWrites) this.trigger();
  }

  /** Starts a run now, or right after the one in progress; resolves when the repository has been looked after. */
  trigger(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running !== null) {
      this.#again = true;
      return this.#running;
    }
    this.#writes = 0;
    this.#running = this.#runOnce().finally(() => {
      this.#running = null;
      this.runs++;
      if (this.#again && !this.#closed) {
        this.#again = false;
        void this.trigger();
      }
    });
    return this.#running;
  }

  async #runOnce(): Promise<void> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#opts.timeoutMs)]);
    try {
      const loose = await looseObjects(this.#repoDir, signal);
      if (loose < this.#opts.looseLimit) return;
      // repack -d packs the loose objects into one new pack and deletes them; gc --auto then merges packs
      // once there are too many (gc.autoPackLimit). autoDetach=false keeps it inside this bounded run.
      await run('git', ['-C', this.#repoDir, 'repack', '-d', '-q'], { signal });
      await run('git', ['-C', this.#repoDir, '-c', 'gc.autoDetach=false', 'gc', '--auto', '--quiet'], { signal });
      this.#log('info', `embedded repository upkeep: packed ${loose} loose objects`, { loose });
    } catch (err) {
      if (this.#closed) return;
      this.#log('warn', 'embedded repository upkeep failed; it is tried again later', { error: err });
    }
  }

  /** Stops the timer and any run in progress (git leaves a repository consistent when stopped). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.#running;
  }
}
