// Benchmark payloads: "realistic" bytes, half incompressible and half compressible text, so that neither
// zlib nor the network is flattered. Layout: alternating 512-byte blocks, first random bytes (crypto), then
// a slice of JSON-like text lines (records made of a small vocabulary, from a seeded PRNG).
import { randomBytes, randomFillSync } from 'node:crypto';

export const HALF_BLOCK = 512;

export const DATA_DESCRIPTION =
  'alternating 512-byte blocks of random bytes (crypto.randomFillSync) and of JSON-like text lines ' +
  '(records built from a 32-word vocabulary), i.e. half incompressible, half compressible';

const WORDS = [
  'alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliett', 'kilo',
  'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor',
  'whiskey', 'xray', 'yankee', 'zulu', 'status', 'active', 'pending', 'user', 'profile', 'settings',
];

/** xorshift32: fast and reproducible; quality is irrelevant here. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const POOL_BYTES = 64 * 1024;
let pool: Buffer | undefined;

/** 64 KiB of text records, generated once. */
function textPool(): Buffer {
  if (pool !== undefined) return pool;
  const next = prng(42);
  const word = () => WORDS[next() % WORDS.length] as string;
  let text = '';
  while (text.length < POOL_BYTES) {
    text += JSON.stringify({
      id: next() % 1_000_000,
      name: `${word()} ${word()}`,
      tags: [word(), word(), word()],
      active: next() % 2 === 0,
      score: (next() % 10_000) / 100,
    }) + '\n';
  }
  pool = Buffer.from(text.slice(0, POOL_BYTES), 'latin1');
  return pool;
}

/** `size` bytes as described in DATA_DESCRIPTION; `seed` picks where the text slices come from. */
export function mixedData(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  randomFillSync(out);
  const text = textPool();
  const next = prng(seed);
  for (let at = HALF_BLOCK; at < size; at += 2 * HALF_BLOCK) {
    const len = Math.min(HALF_BLOCK, size - at);
    const from = next() % (text.length - HALF_BLOCK);
    text.copy(out, at, from, from + len);
  }
  return out;
}

export type DataKind = 'mixed' | 'random' | 'text';
export const DATA_KINDS: readonly DataKind[] = ['mixed', 'random', 'text'];

export const DATA_DESCRIPTIONS: Record<DataKind, string> = {
  mixed: DATA_DESCRIPTION,
  random: 'random bytes (crypto.randomFillSync): incompressible, like media or encrypted files',
  text: 'JSON-like text lines (records built from a 32-word vocabulary): highly compressible',
};

/** `size` bytes of the given kind; `seed` varies the content between repetitions. */
export function benchData(kind: DataKind, size: number, seed = 1): Buffer {
  if (kind === 'mixed') return mixedData(size, seed);
  const out = Buffer.allocUnsafe(size);
  if (kind === 'random') return randomFillSync(out);
  const text = textPool();
  const next = prng(seed);
  for (let at = 0; at < size; at += HALF_BLOCK) {
    const from = next() % (text.length - HALF_BLOCK);
    text.copy(out, at, from, from + Math.min(HALF_BLOCK, size - at));
  }
  return out;
}

/** What the soak's files hold: random bytes, or random letters and digits (text, compressible to about 6/8). */
export type SoakContent = 'random' | 'alnum';
export const SOAK_CONTENTS: readonly SoakContent[] = ['random', 'alnum'];

const ALNUM = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'latin1');
/** The largest multiple of 62 that fits a byte: random bytes from it on are dropped, so no character is favoured. */
const ALNUM_LIMIT = 256 - (256 % ALNUM.length);

/** `size` random bytes from [A-Za-z0-9]. */
export function alnumBytes(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let filled = 0;
  // Each pass keeps about 97 % of its random bytes; the pass is sized to what is still missing, plus slack.
  const maxPasses = Math.ceil(size / (32 * 1024)) + 100;
  for (let pass = 0; filled < size && pass < maxPasses; pass++) {
    const random = randomBytes(Math.min(64 * 1024, size - filled + 64));
    for (let i = 0; i < random.length && filled < size; i++) {
      const r = random[i] as number;
      if (r < ALNUM_LIMIT) out[filled++] = ALNUM[r % ALNUM.length] as number;
    }
  }
  if (filled < size) throw new Error('alnumBytes: the random source kept giving out-of-range bytes');
  return out;
}

export function soakBody(content: SoakContent, size: number): Buffer {
  return content === 'alnum' ? alnumBytes(size) : randomBytes(size);
}

/** How the zlib benchmarks feed a stream: 64 KiB at a time, as a request body arrives. */
export const FEED_CHUNK = 64 * 1024;

/** `data` in views of FEED_CHUNK bytes (the last one shorter). */
export function* feedChunks(data: Buffer): Generator<Buffer> {
  for (let at = 0; at < data.length; at += FEED_CHUNK) yield data.subarray(at, at + FEED_CHUNK);
}
