// Typed errors of the smart-HTTP client. Callers branch on the class (and `code`/`kind`), never on message text.

/** The server sent bytes that do not follow the Git wire protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** e.g. 'bad-pkt-line', 'unexpected-eof', 'bad-advertisement', 'unexpected-response', 'bad-sideband', 'unsupported',
   *  'too-large' (a response beyond the client's limit). */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The server reported a fatal error itself: an `ERR` pkt-line or side-band channel 3. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  readonly remoteMessage: string;
  constructor(remoteMessage: string) {
    super(`remote error: ${remoteMessage}`);
    this.remoteMessage = remoteMessage;
  }
}

export type HttpStatusKind = 'auth' | 'forbidden' | 'not-found' | 'rate-limited' | 'server' | 'client';

/** A non-2xx HTTP answer. The message names the URL without any credentials. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  readonly status: number;
  readonly kind: HttpStatusKind;
  readonly retryAfterMs?: number;
  constructor(status: number, message: string, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.kind = statusKind(status);
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

export function statusKind(status: number): HttpStatusKind {
  if (status === 401) return 'auth';
  if (status === 403) return 'forbidden';
  if (status === 404 || status === 410) return 'not-found';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'server';
  return 'client';
}

export type TransportErrorCode = 'timeout' | 'connection' | 'aborted';

/** The HTTP exchange itself failed: timeout, refused/reset connection, or an abort by the caller. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
