// The request body as the store sees it: an AsyncIterable over the request that enforces the size limit while
// streaming (for chunked bodies, where no Content-Length announced the size), gives up on a client that stops
// sending, and never ends cleanly unless the whole body arrived: a body cut short (the connection broke, or
// the client went quiet) makes the iteration throw IncompleteBodyError, so the store cannot mistake a part for
// the whole. It remembers the error it threw, so the API can answer 413/408/400 whatever the store wraps it in.

import type { IncomingMessage } from 'node:http';
import { StoreError } from '../store/store.js';
import { HttpError } from './http-error.js';

/** The body stopped before it was complete: the client went quiet ('timeout') or the connection ended ('cut'). */
export class IncompleteBodyError extends StoreError {
  readonly reason: 'timeout' | 'cut';

  constructor(reason: 'timeout' | 'cut', message: string, detail: string, cause?: unknown) {
    super('bad-request', message, detail, cause === undefined ? undefined : { cause });
    this.name = 'IncompleteBodyError';
    this.reason = reason;
  }
}

export class RequestBody implements AsyncIterable<Uint8Array> {
  /** The error the iteration threw because of the client (too large, too slow, cut short), if any. */
  failure?: StoreError;
  private started = false;
  private received = 0;

  constructor(
    private readonly req: IncomingMessage,
    readonly maxBytes: number,
    /** How long to wait for the next chunk while the store is waiting for it; 0 = no limit. */
    readonly idleTimeoutMs = 0,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.started) throw new Error('the request body can be read only once');
    this.started = true;
    // destroyOnReturn: false — if the store stops early (or we throw), the socket must stay open so that the
    // error response can still be sent.
    const chunks = (this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await this.nextWithin(chunks);
        if (next.done === true) break;
        this.received += next.value.byteLength;
        if (this.received > this.maxBytes) throw this.fail(tooLarge(this.maxBytes));
        yield next.value;
      }
    } catch (err) {
      if (this.failure !== undefined) throw this.failure;
      throw this.fail(this.cut(err));
    }
    // Node ends the stream early only with an error; this check keeps that promise from being load-bearing.
    if (!this.req.complete) throw this.fail(this.cut());
  }

  /** The iterator's next chunk, or IncompleteBodyError('timeout') if none comes within idleTimeoutMs. */
  private nextWithin(chunks: AsyncIterator<Buffer>): Promise<IteratorResult<Buffer>> {
    const ms = this.idleTimeoutMs;
    if (ms <= 0) return chunks.next();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The pending next() is left behind: it settles (unobserved) when the connection is closed.
        reject(this.fail(new IncompleteBodyError('timeout',
          `no part of the request body arrived for ${ms} ms (${this.progress()})`,
          'send the whole body without pausing; the server gives up after BODY_IDLE_TIMEOUT_MS')));
      }, ms);
      chunks.next().then(
        (r) => { clearTimeout(timer); resolve(r); },
        (e: unknown) => { clearTimeout(timer); reject(e); },
      );
    });
  }

  private cut(cause?: unknown): IncompleteBodyError {
    return new IncompleteBodyError('cut', `the request body ended before it was complete (${this.progress()})`,
      'the connection closed or broke mid-body; nothing was stored, send the request again', cause);
  }

  private progress(): string {
    const declared = declaredLength(this.req);
    return declared === undefined ? `${this.received} bytes received` : `${this.received} of ${declared} bytes received`;
  }

  private fail<E extends StoreError>(err: E): E {
    this.failure = err;
    return err;
  }
}

export function tooLarge(maxBytes: number): StoreError {
  return new StoreError('too-large', `the request body is larger than the ${maxBytes}-byte limit`,
    'send a smaller body, or raise MAX_BODY_BYTES on the server');
}

/** The answer for a body that failed on the client's side: 408 for a client gone quiet, else the store kind's. */
export function bodyFailure(err: StoreError): Error {
  if (err instanceof IncompleteBodyError && err.reason === 'timeout') {
    return new HttpError(408, err.message, err.detail, { Connection: 'close' });
  }
  return err;
}

/** The Content-Length the client declared, if any (Node has already checked it is a well-formed number). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
