/**
 * What a read or write is refused with, given what is at its path: the one rule and the one set of texts
 * both stores use, so that the memory store and the Git store answer the same condition with the same words.
 */
import { StoreError, type WriteCondition } from './store.js';

/**
 * What is at a path: a file (with its blob id), a directory, another entry (a submodule), or nothing
 * (`blockedBy`: a file above it).
 */
export type PathState =
  | { kind: 'file'; oid: string }
  | { kind: 'dir' | 'other' }
  | { kind: 'absent'; blockedBy?: string };

export type PathMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** The reason behind every clash of a file with a directory. */
const ONE_KIND = 'a path cannot be both a file and a directory';

/** Nothing is at `path`. */
export function notFound(path: string, detail?: string): StoreError {
  return new StoreError('not-found', `${path} does not exist`, detail);
}

/**
 * The refusal `method` on `path` gets from what is there, or null when it may go ahead: POST needs nothing
 * there and no file above; GET, PUT and DELETE need a file.
 */
export function refusal(method: PathMethod, path: string, state: PathState): StoreError | null {
  if (method === 'POST') {
    switch (state.kind) {
      case 'file':
        return new StoreError('conflict', `${path} already exists`, 'use PUT to replace it');
      case 'dir':
        return new StoreError('conflict', `${path} is a directory`, ONE_KIND);
      case 'other':
        return new StoreError('conflict', `${path} is a submodule`, 'it cannot be written through this API');
      case 'absent':
        if (state.blockedBy === undefined) return null;
        return new StoreError('conflict', `${state.blockedBy} is a file, so ${path} cannot be created below it`, ONE_KIND);
    }
  }
  switch (state.kind) {
    case 'file':
      return null;
    case 'dir':
      return new StoreError('not-found', `${path} is a directory, not a file`);
    case 'other':
      return new StoreError('not-found', `${path} is a submodule, not a file`);
    case 'absent':
      return notFound(path, method === 'PUT' ? 'use POST to create it' : undefined);
  }
}

const quoted = (etag: string): string => `"${etag}"`;

/**
 * The refusal a write gets from its precondition and what is at its path, or null when it may go ahead.
 * The precondition is checked first (RFC 9110 §13.2.2: before anything else of the method); a PUT that may
 * create (If-None-Match with no file there) is then judged as a POST, so a directory or a file above the
 * path still gives 409. Without a condition this is refusal() itself: the drop-in codes stay as they were.
 * `upsert` (a transaction's operation) may create as well as replace.
 */
export function writeRefusal(method: PathMethod, path: string, state: PathState, condition?: WriteCondition,
  upsert = false): StoreError | null {
  // An upsert is a PUT where there is a file and a POST where there is none.
  if (upsert && state.kind !== 'file') method = 'POST';
  if (condition === undefined) return refusal(method, path, state);
  const etag = state.kind === 'file' ? state.oid : undefined;
  const { ifMatch, ifNoneMatch } = condition;
  if (ifMatch !== undefined && (etag === undefined || (ifMatch !== '*' && !ifMatch.includes(etag)))) {
    return preconditionFailed(path, etag, ifMatch === '*' ? 'a file' : ifMatch.map(quoted).join(' or '));
  }
  if (ifNoneMatch !== undefined && etag !== undefined && (ifNoneMatch === '*' || ifNoneMatch.includes(etag))) {
    return preconditionFailed(path, etag, ifNoneMatch === '*' ? 'no file' : `anything but ${ifNoneMatch.map(quoted).join(' or ')}`);
  }
  const creates = method === 'PUT' && ifNoneMatch !== undefined && etag === undefined;
  return refusal(creates ? 'POST' : method, path, state);
}

/** 412, saying what the path holds now: the current ETag (also on the error, for the header) or no file. */
function preconditionFailed(path: string, etag: string | undefined, expected: string): StoreError {
  const now = etag === undefined ? 'there is no file there' : `its current ETag is ${quoted(etag)}`;
  return new StoreError('precondition', `${path} does not hold ${expected}`, now, etag === undefined ? undefined : { etag });
}
