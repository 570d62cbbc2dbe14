// Maps a request line (method + target) to what the API should do with it. Pure: no I/O.
//
// A request is classified once, by `classify`: a reserved path the API answers itself, or a resource. Auth
// (who may ask), the router (what is asked) and the metrics (whether it is API traffic) all use that answer.

import { HttpError } from './http-error.js';
import { isDirectoryTarget, parseDirectoryPath, parseResourcePath } from './paths.js';
import { historyQuery, listQuery, readQuery, refuseRef, wantsHistory, type HistoryQuery, type ListQuery, type ReadQuery } from './query.js';

/** Paths the API answers itself; they can never name a stored file. */
export const RESERVED_PATHS = {
  '/metrics': 'metrics', '/healthz': 'healthz', '/readyz': 'readyz', '/_watch': 'watch', '/_commit': 'commit',
} as const;

export type Reserved = (typeof RESERVED_PATHS)[keyof typeof RESERVED_PATHS];

/**
 * What a request target is about: one of the reserved paths, a directory (a path ending in '/', the root '/'
 * included), or a resource (anything else, `*` included).
 */
export type Target = Reserved | 'resource' | 'directory';

export type Route =
  | { kind: Reserved; method: string; allow: readonly string[] }
  | { kind: 'options'; target: Target; allow: readonly string[] } // OPTIONS on any target
  | { kind: 'resource'; method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'; path: string; query: ReadQuery; allow: readonly string[] }
  | { kind: 'directory'; method: 'GET' | 'HEAD'; path: string; query: ListQuery; allow: readonly string[] }
  // GET/HEAD of a file or directory with ?history; `dir`: the path is a directory ('' the root).
  | { kind: 'history'; method: 'GET' | 'HEAD'; path: string; dir: boolean; query: HistoryQuery; allow: readonly string[] };

export const RESOURCE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'] as const;
export const RESERVED_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;
export const DIRECTORY_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;
export const COMMIT_METHODS = ['POST', 'OPTIONS'] as const;

/** The request target's path without query or fragment. */
function pathOf(rawUrl: string): string {
  return rawUrl.split(/[?#]/, 1)[0] as string;
}

export function classify(rawUrl: string): Target {
  const path = pathOf(rawUrl);
  if (Object.hasOwn(RESERVED_PATHS, path)) return RESERVED_PATHS[path as keyof typeof RESERVED_PATHS];
  return isDirectoryTarget(path) ? 'directory' : 'resource';
}

/** API traffic (counted in the request metrics): files, directories and commits. */
export const isData = (target: Target): boolean => target === 'resource' || target === 'directory' || target === 'commit';

/**
 * Throws HttpError 405 (with Allow) for a method the target does not support, PathError 400 for a bad path.
 * The method is checked first so that "any other method" is a 405 whatever the path looks like.
 */
export function route(method: string, rawUrl: string, target: Target = classify(rawUrl), maxPathBytes?: number): Route {
  if (target === 'directory') return routeDirectory(method, rawUrl, maxPathBytes);
  const allow: readonly string[] = target === 'resource' ? RESOURCE_METHODS : target === 'commit' ? COMMIT_METHODS : RESERVED_METHODS;
  if (!allow.includes(method)) {
    throw new HttpError(405, `method ${method} is not allowed on ${target !== 'resource' ? pathOf(rawUrl) : 'resources'}`,
      `use one of: ${allow.join(', ')}`, { Allow: allow.join(', ') });
  }
  if (method === 'OPTIONS') {
    // "OPTIONS *" asks about the server as a whole; otherwise the path must still be a valid one.
    if (target === 'resource' && rawUrl !== '*') parseResourcePath(rawUrl, maxPathBytes);
    return { kind: 'options', target, allow };
  }
  if (target !== 'resource') return { kind: target, method, allow };
  const path = parseResourcePath(rawUrl, maxPathBytes);
  const m = method as 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  if (m !== 'GET' && m !== 'HEAD') refuseRef(rawUrl, m);
  else if (wantsHistory(rawUrl)) return { kind: 'history', method: m, path, dir: false, query: historyQuery(rawUrl), allow };
  return { kind: 'resource', method: m, path, query: m === 'GET' || m === 'HEAD' ? readQuery(rawUrl) : {}, allow };
}

/**
 * A directory is read only. A method files have but directories lack (a write) is 405 once the path is known
 * to be a valid one; a method nothing has is 405 at once, as for files.
 */
function routeDirectory(method: string, rawUrl: string, maxPathBytes?: number): Route {
  const allow: readonly string[] = DIRECTORY_METHODS;
  const refuse = () => new HttpError(405, `method ${method} is not allowed on a directory`,
    `a path ending in "/" is a directory listing; use one of: ${allow.join(', ')}`, { Allow: allow.join(', ') });
  if (!(RESOURCE_METHODS as readonly string[]).includes(method)) throw refuse();
  const path = parseDirectoryPath(rawUrl, maxPathBytes);
  if (method === 'OPTIONS') return { kind: 'options', target: 'directory', allow };
  if (method !== 'GET' && method !== 'HEAD') throw refuse();
  if (wantsHistory(rawUrl)) return { kind: 'history', method, path, dir: true, query: historyQuery(rawUrl), allow };
  return { kind: 'directory', method, path, query: listQuery(rawUrl), allow };
}
