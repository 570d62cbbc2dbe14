// What the transport tells an observer about its exchanges with the Git host (for metrics). The protocol layer
// knows nothing of how the counts are kept; the default observer does nothing.

/** Which Git service an exchange belongs to (its info/refs discovery included). */
export type GitService = 'upload-pack' | 'receive-pack';

/** How an exchange ended: a 2xx read to its end (or given up by us), a non-2xx status, or a failed connection/stream. */
export type ExchangeOutcome = 'ok' | 'http_error' | 'transport_error';

export interface GitHostObserver {
  /** One request to the Git host ended; `seconds` from sending it to the end of its response. */
  exchange(service: GitService, outcome: ExchangeOutcome, seconds: number): void;
  /** Body bytes went out to, or came in from, the Git host. */
  bytes(direction: 'sent' | 'received', service: GitService, n: number): void;
}

export const NO_GIT_HOST_OBSERVER: GitHostObserver = { exchange() {}, bytes() {} };

/** The service a request path (e.g. "info/refs?service=git-receive-pack", "git-upload-pack") belongs to. */
export function serviceOf(path: string): GitService {
  return path.includes('git-receive-pack') ? 'receive-pack' : 'upload-pack';
}
