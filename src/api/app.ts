// The node:http request handler: routes each request, talks to the Store, streams bodies both ways, turns every
// failure into a JSON error, and records one log line and one metrics observation per request.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isStoreError, type Store } from '../store/store.js';
import { ApiAuth } from './auth.js';
import { declaredLength } from './body.js';
import { handleFile } from './files.js';
import { handleCommit } from './commit.js';
import type { Outcome } from './outcome.js';
import { IMMUTABLE, pinned, sendJson, sendJsonTo } from './responses.js';
import { answerClientErrors } from './client-errors.js';
import { redact, secretsOf, type Config } from './config.js';
import { fromStoreError, HttpError } from './http-error.js';
import type { Logger, RequestLog } from './logger.js';
import { METRICS_CONTENT_TYPE, type ApiMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { classify, isData, route, type Route } from './router.js';
import { WatchStreams } from './watch.js';

export interface AppDeps {
  store: Store;
  config: Config;
  metrics: ApiMetrics;
  logger: Logger;
  /** Answers /readyz; default: one built on `store` with config.readyTimeoutMs. */
  readiness?: Readiness;
  /** The /_watch streams, ended by a graceful shutdown; default: a registry of this app's own. */
  watchers?: WatchStreams;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createApp(deps: AppDeps): RequestHandler {
  const { store, config, metrics, logger } = deps;
  const secrets = secretsOf(config);
  const auth = new ApiAuth(config.apiTokens, config.metricsPublic);
  const readiness = deps.readiness ?? new Readiness(store, { timeoutMs: config.readyTimeoutMs });
  const watchers = deps.watchers ?? new WatchStreams();
  const watchLimits = { maxWatchers: config.maxWatchers, heartbeatMs: config.watchHeartbeatMs };

  async function handle(req: IncomingMessage, res: ServerResponse, out: Outcome): Promise<void> {
    const method = req.method ?? '';
    const url = req.url ?? '/';
    const target = classify(url);
    out.observed = isData(target);
    // RFC 9112 §3.2 (checked here rather than by Node, whose 400 has no JSON body).
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      throw new HttpError(400, 'the Host header is missing', 'HTTP/1.1 requests must carry a Host header');
    }
    // Then authentication, so that a caller without a valid token learns nothing else (not even which paths are valid).
    auth.authorize(method, target, req.headers.authorization);
    const r = route(method, url, target);
    switch (r.kind) {
      case 'options':
        res.writeHead(204, { Allow: r.allow.join(', ') }).end();
        return;
      case 'healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case 'readyz': {
        const state = await readiness.check();
        res.setHeader('Cache-Control', 'no-store');
        if (state.ready) sendJson(res, 200, { status: 'ready' });
        else sendJson(res, 503, { status: 'not ready', error: redact(state.reason, secrets) });
        return;
      }
      case 'metrics': {
        const text = metrics.render();
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case 'watch':
        await watchers.handle(store, watchLimits, req, res, out);
        return;
      case 'resource':
        out.path = r.path;
        await handleFile({ store, config }, req, res, r, out);
        return;
      case 'commit':
        out.path = '/_commit';
        await handleCommit({ store, config }, req, res, out);
        return;
      case 'directory':
        out.path = `${r.path}/`;
        await handleDirectory(res, r, out);
        return;
      case 'history':
        out.path = r.dir ? `${r.path}/` : r.path;
        await handleHistory(res, r, out);
    }
  }

  async function handleHistory(res: ServerResponse, r: Route & { kind: 'history' }, out: Outcome): Promise<void> {
    if (store.history === undefined) {
      throw new HttpError(501, 'this store keeps no history', 'the memory backend has only the current state; use BACKEND_TYPE=git');
    }
    const { ref, cursor, limit } = r.query;
    const page = await store.history(r.path, {
      limit, dir: r.dir, ...(ref === undefined ? {} : { ref }), ...(cursor === undefined ? {} : { cursor }),
    });
    out.retries = page.retries ?? 0;
    const { retries: _retries, ...body } = page;
    sendJsonTo(res, r.method, body, pinned(ref) ? { 'Cache-Control': IMMUTABLE } : {});
  }

  async function handleDirectory(res: ServerResponse, r: Route & { kind: 'directory' }, out: Outcome): Promise<void> {
    if (store.list === undefined) {
      throw new HttpError(501, 'this store cannot list directories', 'ask for a file path (one not ending in "/")');
    }
    const { ref, cursor, ...rest } = r.query;
    const listing = await store.list(r.path, { ...rest, ...(ref === undefined ? {} : { ref }), ...(cursor === undefined ? {} : { cursor }) });
    out.retries = listing.retries ?? 0;
    const { retries: _retries, ...body } = listing;
    const headers: Record<string, string> = {};
    if (listing.commit !== null) headers['X-Commit'] = listing.commit;
    if (pinned(ref)) headers['Cache-Control'] = IMMUTABLE;
    sendJsonTo(res, r.method, body, headers);
  }

  function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, out: Outcome): void {
    if (isStoreError(err)) out.retries = Math.max(out.retries, err.retries);
    let httpErr: HttpError;
    if (err instanceof HttpError) {
      httpErr = err;
      out.error = err.message;
    } else if (isStoreError(err)) {
      httpErr = fromStoreError(err);
      out.error = err.detail === undefined ? err.message : `${err.message} (${err.detail})`;
    } else {
      httpErr = new HttpError(500, 'internal server error', 'the server hit an unexpected problem; it has been logged');
      out.error = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    }
    if (res.headersSent) {
      // Mid-stream failure: the status is gone already; cutting the connection is the only honest signal left.
      out.error = `response aborted: ${err instanceof Error ? err.message : String(err)}`;
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(httpErr.headers)) res.setHeader(k, v);
    // An unread body: a small one is read and dropped by Node so the connection can be reused; a large or
    // unannounced one (and any body refused as too large) is dropped by closing the connection instead.
    if (!req.complete && (httpErr.status === 413 || !smallBody(req))) res.setHeader('Connection', 'close');
    const payload: Record<string, string | number> = { error: redact(httpErr.message, secrets) };
    if (httpErr.detail !== undefined) payload.detail = redact(httpErr.detail, secrets);
    Object.assign(payload, httpErr.fields);
    sendJson(res, httpErr.status, payload);
  }

  return (req, res) => {
    const started = performance.now();
    const out: Outcome = { path: logPath(req.url), retries: 0, observed: false };
    handle(req, res, out)
      .catch((err: unknown) => sendError(req, res, err, out))
      .catch((err: unknown) => {
        // sendError itself failed (e.g. the socket is gone); make sure the connection does not linger.
        out.error = `could not send the error response: ${String(err)}`;
        res.destroy();
      })
      .finally(() => {
        const method = req.method ?? '';
        const seconds = (performance.now() - started) / 1000;
        const entry: RequestLog = {
          method, path: out.path, status: res.statusCode, duration_ms: Math.round(seconds * 1e6) / 1e3,
          retries: out.retries,
        };
        if (out.commit !== undefined) entry.commit = out.commit;
        if (out.error !== undefined) entry.error = out.error;
        logger.request(entry);
        if (out.observed) metrics.observe({ method, ok: res.statusCode < 400, retries: out.retries, seconds });
      });
  };
}

/** Node's default, set explicitly so a --max-http-header-size flag cannot change it: more is answered 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** An http.Server around createApp, with the configured timeouts and JSON answers for unparseable requests. */
export function createServer(deps: AppDeps): Server {
  const { requestTimeoutMs, headersTimeoutMs } = deps.config;
  // Node refuses a headers timeout longer than a (non-zero) request timeout.
  const headersTimeout = requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs;
  const server = createHttpServer({
    requestTimeout: requestTimeoutMs,
    headersTimeout,
    // Node enforces both timeouts only when it sweeps its connections, every 30 s by default: sweep often
    // enough that a timeout fires within about a quarter of itself (and at least once a second).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4))),
    maxHeaderSize: MAX_HEADER_BYTES,
    requireHostHeader: false, // createApp answers it, in JSON
  }, createApp(deps));
  answerClientErrors(server, deps.logger);
  return server;
}

/** Unread bodies up to this size are drained rather than closing the connection. */
const DRAIN_LIMIT = 64 * 1024;

function smallBody(req: IncomingMessage): boolean {
  const n = declaredLength(req);
  return req.headers['transfer-encoding'] === undefined && (n ?? 0) <= DRAIN_LIMIT;
}

/** The path for the log line when routing failed: no query string (it could hold anything), bounded length. */
function logPath(url: string | undefined): string {
  const p = (url ?? '').split(/[?#]/, 1)[0] as string;
  return p.length > 512 ? p.slice(0, 512) + '…' : p;
}
