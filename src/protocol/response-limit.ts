// A cap on how many bytes of a response may be read, so a broken or hostile server cannot make the client
// buffer without end: an advertisement, ls-refs or report-status is kept whole (or grows a list) as it is read.
import { ProtocolError } from './errors.js';

/** A byte stream that fails once more than its limit arrived, until `lift()` turns the limit off. */
export interface LimitedStream extends AsyncIterable<Uint8Array> {
  /** Stops counting (e.g. when the pack starts, which the pack reader bounds by its own limits). */
  lift(): void;
}

export function limitBytes(source: AsyncIterable<Uint8Array>, maxBytes: number, what: string): LimitedStream {
  let limited = true;
  let seen = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    // Leaving this loop (error or early return) closes the source, which releases the HTTP response.
    for await (const chunk of source) {
      seen += chunk.length;
      if (limited && seen > maxBytes) {
        throw new ProtocolError('too-large', `${what} exceeds the ${maxBytes}-byte limit`);
      }
      yield chunk;
    }
  }
  const it = counted();
  return {
    [Symbol.asyncIterator]: () => it,
    lift() {
      limited = false;
    },
  };
}

/** Reads a whole response of at most `maxBytes`. */
export async function readAllLimited(source: AsyncIterable<Uint8Array>, maxBytes: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of limitBytes(source, maxBytes, what)) parts.push(chunk);
  return Buffer.concat(parts);
}
