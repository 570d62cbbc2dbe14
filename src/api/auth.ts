// REST API authentication. With no token configured the API is open. Otherwise every request except /healthz and
// /readyz (and /metrics when METRICS_PUBLIC=true) needs a token, sent as `Authorization: Bearer <token>` or, for curl's
// `-u :<token>`, as `Authorization: Basic` with the token as the password (the user name is ignored).
// Read-only tokens may GET, HEAD and OPTIONS; POST, PUT and DELETE need a read-write token.
//
// A presented token is compared with every configured one as SHA-256 digests through timingSafeEqual, without
// stopping at a match: the time taken says nothing about a token's length, its prefix, or which one matched.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiToken, TokenAccess } from './config.js';
import { HttpError } from './http-error.js';
import type { Target } from './router.js';

/** What a request needs: nothing, any valid token, or a read-write token. */
export type Need = 'none' | 'ro' | 'rw';

const WRITE_METHODS = new Set(['POST', 'PUT', 'DELETE']);
const REALM = 'Bearer realm="gitrest"';

/** `target` is the router's classification of the request (see classify in router.ts). */
export function requiredAccess(method: string, target: Target, metricsPublic: boolean): Need {
  // Probes (liveness, readiness) must work without a token; they tell nothing about the data.
  if (target === 'healthz' || target === 'readyz') return 'none';
  if (target === 'metrics') return metricsPublic ? 'none' : 'ro';
  // Other methods are answered 405 by the router, once the caller has shown it may use the API at all.
  return WRITE_METHODS.has(method) ? 'rw' : 'ro';
}

/** The token in an Authorization header value; undefined when there is none or the header is malformed. */
export function presentedToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header);
  if (m === null) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  const value = m[2] as string;
  if (scheme === 'bearer') return value;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 || colon === decoded.length - 1 ? undefined : decoded.slice(colon + 1);
}

export class ApiAuth {
  readonly #tokens: ReadonlyArray<{ digest: Buffer; access: TokenAccess }>;
  readonly #metricsPublic: boolean;

  constructor(tokens: readonly ApiToken[], metricsPublic: boolean) {
    this.#tokens = tokens.map((t) => ({ digest: digest(t.token), access: t.access }));
    this.#metricsPublic = metricsPublic;
  }

  get enabled(): boolean {
    return this.#tokens.length > 0;
  }

  /** The access the header's token grants, if it is a configured token. */
  accessOf(header: string | undefined): TokenAccess | undefined {
    const token = presentedToken(header);
    if (token === undefined) return undefined;
    const d = digest(token);
    let found: TokenAccess | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(d, t.digest)) found = t.access;
    return found;
  }

  /** Throws HttpError 401 (no or unknown token) or 403 (read-only token on a write); returns when allowed. */
  authorize(method: string, target: Target, header: string | undefined): void {
    if (!this.enabled) return;
    const need = requiredAccess(method, target, this.#metricsPublic);
    if (need === 'none') return;
    const access = this.accessOf(header);
    if (access === undefined) {
      if (header === undefined) {
        throw new HttpError(401, 'an API token is required', 'send it as "Authorization: Bearer <token>"',
          { 'WWW-Authenticate': REALM });
      }
      throw new HttpError(401, 'the API token is not valid',
        'send a configured token as "Authorization: Bearer <token>" (or as the Basic password)',
        { 'WWW-Authenticate': `${REALM}, error="invalid_token"` });
    }
    if (need === 'rw' && access === 'ro') {
      throw new HttpError(403, `a read-only token cannot ${method}`, 'writes (POST, PUT, DELETE) need a read-write token',
        { 'WWW-Authenticate': `${REALM}, error="insufficient_scope"` });
    }
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
