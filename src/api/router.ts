// Maps a request line (method + target) to what the API should do with it. Pure: no I/O.

import { HttpError } from './http-error.js';
import { parseResourcePath } from './paths.js';

export type Route =
  | { kind: 'metrics'; method: string; allow: readonly string[] }
  | { kind: 'healthz'; method: string; allow: readonly string[] }
  | { kind: 'options'; allow: readonly string[] } // OPTIONS on any target
  | { kind: 'resource'; method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'; path: string; allow: readonly string[] };

export const RESOURCE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'] as const;
export const RESERVED_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;

/** Paths the API answers itself; they can never name a stored file. */
const RESERVED: Record<string, 'metrics' | 'healthz'> = { '/metrics': 'metrics', '/healthz': 'healthz' };

/**
 * Throws HttpError 405 (with Allow) for a method the target does not support, PathError 400 for a bad path.
 * The method is checked first so that "any other method" is a 405 whatever the path looks like.
 */
export function route(method: string, rawUrl: string, maxPathBytes?: number): Route {
  const pathPart = rawUrl.split(/[?#]/, 1)[0] as string;
  const reserved = RESERVED[pathPart];
  const allow: readonly string[] = reserved !== undefined ? RESERVED_METHODS : RESOURCE_METHODS;
  if (!allow.includes(method)) {
    throw new HttpError(405, `method ${method} is not allowed on ${reserved !== undefined ? pathPart : 'resources'}`,
      `use one of: ${allow.join(', ')}`, { Allow: allow.join(', ') });
  }
  if (method === 'OPTIONS') {
    // "OPTIONS *" asks about the server as a whole; otherwise the path must still be a valid one.
    if (reserved === undefined && rawUrl !== '*') parseResourcePath(rawUrl, maxPathBytes);
    return { kind: 'options', allow };
  }
  if (reserved !== undefined) return { kind: reserved, method, allow };
  const path = parseResourcePath(rawUrl, maxPathBytes);
  return { kind: 'resource', method: method as 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE', path, allow };
}
