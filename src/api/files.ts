// Requests for one file: GET and HEAD (with ETags, conditional requests and a byte range) and the writes
// POST, PUT and DELETE (with If-Match / If-None-Match as a per-path compare-and-swap in the store).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { BodySource, Store, WriteResult } from '../store/store.js';
import { bodyFailure, declaredLength, RequestBody, tooLarge } from './body.js';
import type { Config } from './config.js';
import { contentTypeOf } from './content-type.js';
import { HttpError } from './http-error.js';
import type { Outcome } from './outcome.js';
import {
  etagOf, evaluateRead, parseEntityTags, parseRange, rangeApplies, resolveRange, writeCondition, type ReadPreconditions,
} from './preconditions.js';
import { discard, exactly, IMMUTABLE, pinned, sendJson, slice } from './responses.js';
import type { Route } from './router.js';

export interface FileDeps {
  store: Store;
  config: Config;
}

type FileRoute = Route & { kind: 'resource' };

export async function handleFile(deps: FileDeps, req: IncomingMessage, res: ServerResponse, r: FileRoute, out: Outcome): Promise<void> {
  if (r.method === 'GET' || r.method === 'HEAD') await readFile(deps, req, res, r, out);
  else await writeFile(deps, req, res, r, out);
}

/** A header that is not defined as a list; Node joins none of these, and a repeated one is not honoured. */
function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function preconditionsOf(req: IncomingMessage): ReadPreconditions {
  const ifMatch = parseEntityTags('If-Match', req.headers['if-match']);
  const ifNoneMatch = parseEntityTags('If-None-Match', req.headers['if-none-match']);
  return { ...(ifMatch === undefined ? {} : { ifMatch }), ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }) };
}

/**
 * GET and HEAD. The preconditions are decided as soon as the store knows the file's blob id, before any of
 * its content is fetched: a 304 or a 412 costs the path lookup alone, and a HEAD asks for the size only.
 */
async function readFile(deps: FileDeps, req: IncomingMessage, res: ServerResponse, r: FileRoute, out: Outcome): Promise<void> {
  const { path, query: { ref } } = r;
  const pre = preconditionsOf(req);
  const range = r.method === 'GET' ? parseRange(req.headers.range) : undefined;
  let status = 200 as 200 | 304 | 412; // set by `want`, which TypeScript cannot see run
  const file = await deps.store.read(path, {
    ...(ref === undefined ? {} : { ref }),
    want: (version) => {
      status = evaluateRead(pre, version.etag);
      if (status !== 200) return 'none';
      return r.method === 'HEAD' ? 'size' : 'content';
    },
  });
  out.retries = file.retries ?? 0;
  const headers: Record<string, string | number> = { ETag: etagOf(file.etag) };
  if (file.commit !== undefined) headers['X-Commit'] = file.commit;
  if (pinned(ref)) headers['Cache-Control'] = IMMUTABLE;
  if (file.want === 'none') {
    if (status === 412) {
      throw new HttpError(412, `${path} does not match If-Match`, `its current ETag is ${etagOf(file.etag)}`,
        { ETag: etagOf(file.etag) });
    }
    res.writeHead(304, headers).end();
    return;
  }
  headers['Accept-Ranges'] = 'bytes';
  headers['Content-Type'] = contentTypeOf(path, deps.config.contentTypeMode);
  if (file.want === 'size') {
    res.writeHead(200, { ...headers, 'Content-Length': file.size }).end();
    return;
  }
  const { size } = file;
  const span = range !== undefined && rangeApplies(header(req, 'if-range'), file.etag) ? resolveRange(range, size) : undefined;
  if (span === null) {
    await discard(file.stream);
    throw new HttpError(416, 'the range is not satisfiable', `${path} has ${size} bytes`, { 'Content-Range': `bytes */${size}` });
  }
  // pipeline gives backpressure, and stops the store's stream if the client goes away.
  if (span === undefined) {
    res.writeHead(200, { ...headers, 'Content-Length': size });
    await pipeline(exactly(file.stream, size), res);
    return;
  }
  res.writeHead(206, { ...headers, 'Content-Range': `bytes ${span.start}-${span.end}/${size}`, 'Content-Length': span.end - span.start + 1 });
  if (file.range !== undefined) {
    // Read from a file: only the range is read; the whole stream, not started, is let go.
    const part = file.range(span.start, span.end);
    await discard(file.stream);
    await pipeline(exactly(part, span.end - span.start + 1), res);
    return;
  }
  await pipeline(slice(exactly(file.stream, size), span.start, span.end), res);
}

/** POST, PUT, DELETE. Conditions apply to PUT and DELETE; POST is as it always was. */
async function writeFile(deps: FileDeps, req: IncomingMessage, res: ServerResponse, r: FileRoute, out: Outcome): Promise<void> {
  const { store } = deps;
  const { path } = r;
  const condition = r.method === 'POST' ? undefined : writeCondition(preconditionsOf(req));
  const key = header(req, 'idempotency-key');
  const options = { ...(condition === undefined ? {} : { condition }), ...(key === undefined ? {} : { idempotencyKey: key }) };
  let w: WriteResult;
  if (r.method === 'DELETE') {
    w = await store.remove(path, options);
  } else {
    const body = readBody(deps.config, req);
    try {
      w = r.method === 'POST' ? await store.create(path, body.source, options) : await store.replace(path, body.source, options);
    } catch (err) {
      // The client's fault (too large, too slow, cut short), whatever the store made of it.
      if (body.stream.failure !== undefined) throw bodyFailure(body.stream.failure);
      throw err;
    }
  }
  out.retries = w.retries;
  out.commit = w.commit;
  const headers: Record<string, string> = { 'X-Commit': w.commit };
  if (w.etag !== undefined) headers.ETag = etagOf(w.etag);
  if (r.method === 'POST' || w.created === true) {
    headers.Location = '/' + path.split('/').map(encodeURIComponent).join('/');
    sendJson(res, 201, { path, commit: w.commit }, headers);
  } else {
    res.writeHead(204, headers).end();
  }
}

function readBody(config: Config, req: IncomingMessage): { stream: RequestBody; source: BodySource } {
  const length = declaredLength(req);
  // Refuse an announced oversize body before reading any of it.
  if (length !== undefined && length > config.maxBodyBytes) throw tooLarge(config.maxBodyBytes);
  const stream = new RequestBody(req, config.maxBodyBytes, config.bodyIdleTimeoutMs);
  return { stream, source: length === undefined ? { stream } : { stream, length } };
}
