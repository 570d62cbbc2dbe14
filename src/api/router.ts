// Maps a request line (method + target) to what the API should do with it. Pure: no I/O.
//
// A request is classified once, by `classify`: a reserved path the API answers itself, or a resource. Auth
// (who may ask), the router (what is asked) and the metrics (whether it is API traffic) all use that answer.

import { HttpError } from './http-error.js';
import { parseResourcePath } from './paths.js';

/** Paths the API answers itself; they can never name a stored file. */
export const RESERVED_PATHS = { '/metrics': 'metrics', '/healthz': 'healthz', '/readyz': 'readyz' } as const;

export type Reserved = (typeof RESERVED_PATHS)[keyof typeof RESERVED_PATHS];

/** What a request target is about: one of the reserved paths, or a resource (anything else, `*` included). */
export type Target = Reserved | 'resource';

export type Route =
  | { kind: Reserved; method: string; allow: readonly string[] }
  | { kind: 'options'; target: Target; allow: readonly string[] } // OPTIONS on any target
  | { kind: 'resource'; method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'; path: string; allow: readonly string[] };

export const RESOURCE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'] as const;
export const RESERVED_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;

/** The request target's path without query or fragment. */
function pathOf(rawUrl: string): string {
  return rawUrl.split(/[?#]/, 1)[0] as string;
}

export function classify(rawUrl: string): Target {
  const path = pathOf(rawUrl);
  return Object.hasOwn(RESERVED_PATHS, path) ? RESERVED_PATHS[path as keyof typeof RESERVED_PATHS] : 'resource';
}

/**
 * Throws HttpError 405 (with Allow) for a method the target does not support, PathError 400 for a bad path.
 * The method is checked first so that "any other method" is a 405 whatever the path looks like.
 */
export function route(method: string, rawUrl: string, target: Target = classify(rawUrl), maxPathBytes?: number): Route {
  const allow: readonly string[] = target !== 'resource' ? RESERVED_METHODS : RESOURCE_METHODS;
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
  return { kind: 'resource', method: method as 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE', path, allow };
}
