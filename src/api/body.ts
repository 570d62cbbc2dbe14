// The request body as the store sees it: an AsyncIterable over the request that enforces the size limit while
// streaming (for chunked bodies, where no Content-Length announced the size) and remembers that it did, so the
// API can answer 413 whatever error the store wraps it in.

import type { IncomingMessage } from 'node:http';
import { StoreError } from '../store/store.js';

export class RequestBody implements AsyncIterable<Uint8Array> {
  /** The body went past the limit; answer 413. */
  overLimit = false;
  private started = false;

  constructor(
    private readonly req: IncomingMessage,
    readonly maxBytes: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.started) throw new Error('the request body can be read only once');
    this.started = true;
    let total = 0;
    // destroyOnReturn: false — if the store stops early (or we throw), the socket must stay open so that the
    // error response can still be sent.
    const chunks = this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    try {
      for await (const chunk of chunks) {
        total += chunk.byteLength;
        if (total > this.maxBytes) {
          this.overLimit = true;
          throw tooLarge(this.maxBytes);
        }
        yield chunk;
      }
    } catch (err) {
      if (this.overLimit) throw err;
      // The client went away (or the connection broke) before the body was complete.
      throw new StoreError('bad-request', 'the request body ended before it was complete', undefined, { cause: err });
    }
  }
}

export function tooLarge(maxBytes: number): StoreError {
  return new StoreError('too-large', `the request body is larger than the ${maxBytes}-byte limit`,
    'send a smaller body, or raise MAX_BODY_BYTES on the server');
}

/** The Content-Length the client declared, if any (Node has already checked it is a well-formed number). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
