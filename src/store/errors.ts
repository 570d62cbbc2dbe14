/** Maps what can go wrong below the store (the engine, the network, the git host) to store errors. */
import { PackError } from '../pack/errors.js';
import { HttpStatusError, ProtocolError, RemoteError, TransportError } from '../protocol/errors.js';
import { StoreError } from './store.js';

export function toStoreError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof HttpStatusError) {
    switch (err.kind) {
      case 'auth':
      case 'forbidden':
        return new StoreError('auth', 'the git host refused our credentials', `HTTP ${err.status}: check GIT_TOKEN or GIT_USERNAME/GIT_PASSWORD`, { cause: err });
      case 'not-found':
        return new StoreError('upstream', 'the git host does not know this repository', `HTTP ${err.status}: check GIT_REPO_URL`, { cause: err });
      case 'rate-limited':
      case 'server':
        return new StoreError('unavailable', 'the git host is unavailable', `HTTP ${err.status}`, { cause: err });
      default:
        return new StoreError('upstream', 'the git host rejected a request', `HTTP ${err.status}`, { cause: err });
    }
  }
  if (err instanceof TransportError) {
    return err.code === 'timeout'
      ? new StoreError('timeout', 'the git host did not answer in time', err.message, { cause: err })
      : new StoreError('unavailable', 'the git host could not be reached', err.message, { cause: err });
  }
  if (err instanceof RemoteError) {
    return new StoreError('upstream', 'the git host reported an error', err.remoteMessage, { cause: err });
  }
  if (err instanceof ProtocolError || err instanceof PackError) {
    return new StoreError('upstream', 'the git host sent data we could not read', err.message, { cause: err });
  }
  return new StoreError('upstream', 'unexpected failure talking to the git host', err instanceof Error ? err.message : String(err), { cause: err });
}
