/** Maps what can go wrong below the store (the engine, the network, the git host) to store errors. */
import { PackError } from '../pack/errors.js';
import { HttpStatusError, ProtocolError, RemoteError, TransportError } from '../protocol/errors.js';
import { StoreError } from './store.js';

export function toStoreError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof HttpStatusError) return fromStatus(err);
  if (err instanceof TransportError) {
    switch (err.code) {
      case 'timeout':
        return new StoreError('timeout', 'the git host did not answer in time', err.message, { cause: err });
      case 'aborted':
        // Only our own deadlines abort requests to the host.
        return new StoreError('timeout', 'the git host did not answer within the deadline', err.message, { cause: err });
      default:
        return new StoreError('unavailable', 'the connection to the git host failed', err.message, { cause: err });
    }
  }
  if (err instanceof RemoteError) {
    return new StoreError('upstream', 'the git host reported an error', err.remoteMessage, { cause: err });
  }
  if (err instanceof ProtocolError || err instanceof PackError) {
    return new StoreError('upstream', 'the git host sent data we could not read', err.message, { cause: err });
  }
  return new StoreError('upstream', 'unexpected failure talking to the git host', err instanceof Error ? err.message : String(err), { cause: err });
}

function fromStatus(err: HttpStatusError): StoreError {
  const opts = { cause: err };
  switch (err.kind) {
    case 'auth':
    case 'forbidden':
      return new StoreError('auth', 'the git host refused our credentials', `HTTP ${err.status}: check GIT_TOKEN or GIT_USERNAME/GIT_PASSWORD`, opts);
    case 'not-found':
      return new StoreError('upstream', 'the git host does not know this repository', `HTTP ${err.status}: check GIT_REPO_URL`, opts);
    case 'rate-limited': {
      const after = err.retryAfterMs === undefined ? '' : `; it asked to retry after ${Math.ceil(err.retryAfterMs / 1000)} s`;
      return new StoreError('unavailable', 'the git host is rate limiting requests', `${err.message}${after}`, opts);
    }
  }
  if (err.status === 408 || err.status === 504) {
    return new StoreError('timeout', 'the git host did not answer in time', err.message, opts);
  }
  if (err.status === 503) return new StoreError('unavailable', 'the git host is unavailable', err.message, opts);
  if (err.status >= 500) return new StoreError('upstream', 'the git host failed to answer', err.message, opts);
  return new StoreError('upstream', 'the git host rejected a request', err.message, opts);
}

/** The same error, carrying the number of retries spent before it. */
export function withRetries(err: StoreError, retries: number): StoreError {
  if (err.retries === retries) return err;
  return new StoreError(err.kind, err.message, err.detail,
    { retries, cause: err.cause, ...(err.etag === undefined ? {} : { etag: err.etag }),
      ...(err.operation === undefined ? {} : { operation: err.operation }) });
}

/**
 * A write whose push went out but whose outcome could not be learned (the answer was lost and the branch
 * could not be read back, or moved too far to tell). It is not acknowledged, and not retried blindly.
 */
export function inDoubt(err: unknown, retries: number): StoreError {
  const e = toStoreError(err);
  const kind = e.kind === 'timeout' || e.kind === 'auth' || e.kind === 'upstream' ? e.kind : 'unavailable';
  const why = e.detail === undefined ? e.message : `${e.message}: ${e.detail}`;
  return new StoreError(kind, 'the git host did not confirm the write',
    `${why}; it may or may not have been applied, so read the resource before writing it again`, { retries, cause: err });
}
