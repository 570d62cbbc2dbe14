// An error that already knows its HTTP answer. `message` goes into the JSON body's "error", `detail` into "detail".

import type { StoreError } from '../store/store.js';

export class HttpError extends Error {
  readonly status: number;
  readonly detail?: string;
  readonly headers: Record<string, string>;
  /** More fields of the JSON body beside error and detail (e.g. a transaction's failed `operation`). */
  readonly fields: Record<string, string | number>;

  constructor(status: number, message: string, detail?: string, headers: Record<string, string> = {},
    fields: Record<string, string | number> = {}) {
    super(message);
    this.fields = fields;
    this.name = 'HttpError';
    this.status = status;
    if (detail !== undefined) this.detail = detail;
    this.headers = headers;
  }
}

/** A resource path the API refuses (always 400). */
export class PathError extends HttpError {
  constructor(message: string, detail?: string) {
    super(400, message, detail);
    this.name = 'PathError';
  }
}

/** The HTTP answer for each kind of store failure; the defaults say what the operator or client can do. */
export function fromStoreError(e: StoreError): HttpError {
  const http = httpErrorOf(e);
  if (e.operation === undefined) return http;
  return new HttpError(http.status, http.message, http.detail, http.headers, { operation: e.operation });
}

function httpErrorOf(e: StoreError): HttpError {
  switch (e.kind) {
    case 'not-found':
      return new HttpError(404, e.message, e.detail ?? 'check the path; to create the file, POST to it');
    case 'conflict':
      return new HttpError(409, e.message, e.detail ?? 'the path is taken; to replace a file, PUT to it');
    case 'precondition':
      return new HttpError(412, e.message, e.detail, e.etag === undefined ? {} : { ETag: `"${e.etag}"` });
    case 'key-reused':
      return new HttpError(422, e.message, e.detail);
    case 'bad-request':
      return new HttpError(400, e.message, e.detail ?? 'check the request and send it again');
    case 'too-large':
      return new HttpError(413, e.message, e.detail ?? 'send a smaller body, or raise MAX_BODY_BYTES on the server');
    case 'upstream':
      return new HttpError(502, e.message, e.detail ?? 'the Git host gave an unexpected answer; try again later');
    case 'unavailable':
      return new HttpError(503, e.message, e.detail ?? 'the storage backend is unavailable; try again shortly',
        { 'Retry-After': '5' });
    case 'timeout':
      return new HttpError(504, e.message, e.detail ?? 'the Git host did not answer in time (GIT_TIMEOUT_MS); try again');
    case 'gone':
      return new HttpError(410, e.message, e.detail ?? 'start again without since (from the current tip)');
    case 'auth':
      return new HttpError(502, e.message, e.detail ??
        'the Git host refused the server\'s credentials; the operator should check GIT_TOKEN (or GIT_USERNAME/GIT_PASSWORD)');
  }
}
