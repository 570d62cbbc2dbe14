// POST /_commit: several file changes as one commit, all or nothing. The JSON body is read whole (it is bounded
// by MAX_BODY_BYTES), checked here (shape, paths, encodings, limits), and handed to the store's commit().
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CommitOperation, CommitRequest, Store } from '../store/store.js';
import { bodyFailure, declaredLength, RequestBody, tooLarge } from './body.js';
import type { Config } from './config.js';
import { HttpError, PathError } from './http-error.js';
import type { Outcome } from './outcome.js';
import { parseResourcePath } from './paths.js';
import { sendJson } from './responses.js';
import { RESERVED_PATHS } from './router.js';

const OPS = new Set<CommitOperation['op']>(['create', 'replace', 'upsert', 'delete', 'move']);
const OID = /^[0-9a-f]{40}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export async function handleCommit(deps: { store: Store; config: Config }, req: IncomingMessage, res: ServerResponse,
  out: Outcome): Promise<void> {
  const { store, config } = deps;
  if (store.commit === undefined) throw new HttpError(501, 'this store has no atomic commits', 'use BACKEND_TYPE=git');
  const type = (req.headers['content-type'] ?? 'application/json').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, `a commit request is JSON, not ${type}`, 'send Content-Type: application/json');
  }
  const text = await readText(req, config);
  const key = req.headers['idempotency-key'];
  const request = parseCommitRequest(text, config.maxCommitOperations, typeof key === 'string' ? key : undefined);
  const w = await store.commit(request);
  out.retries = w.retries;
  out.commit = w.commit;
  const results = (w.results ?? []).map((r) => ({ path: r.path, etag: r.etag }));
  sendJson(res, 200, { commit: w.commit, results }, {
    'X-Commit': w.commit, ...(w.repeated === true ? { 'Idempotent-Replayed': 'true' } : {}),
  });
}

async function readText(req: IncomingMessage, config: Config): Promise<string> {
  const length = declaredLength(req);
  if (length !== undefined && length > config.maxBodyBytes) throw tooLarge(config.maxBodyBytes);
  const body = new RequestBody(req, config.maxBodyBytes, config.bodyIdleTimeoutMs);
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of body) chunks.push(chunk);
  } catch (err) {
    if (body.failure !== undefined) throw bodyFailure(body.failure);
    throw err;
  }
  return Buffer.concat(chunks).toString('utf8');
}

const bad = (message: string, detail = 'see the README for the request format'): HttpError => new HttpError(400, message, detail);

/** The request as the store takes it; every mistake is a 400 naming the operation it is in. */
export function parseCommitRequest(text: string, maxOperations: number, idempotencyKey?: string): CommitRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw bad('the body is not valid JSON', (err as Error).message);
  }
  if (!isObject(value)) throw bad('the body must be a JSON object with "operations"');
  const { message, expectHead, operations } = value;
  if (message !== undefined && (typeof message !== 'string' || message.trim() === '' || message.includes('\0'))) {
    throw bad('"message" must be a non-empty string without NUL');
  }
  if (expectHead !== undefined && (typeof expectHead !== 'string' || !OID.test(expectHead))) {
    throw bad('"expectHead" must be a full commit id (40 lowercase hex digits)');
  }
  if (!Array.isArray(operations) || operations.length === 0) throw bad('"operations" must be a non-empty array');
  if (operations.length > maxOperations) {
    throw new HttpError(413, `${operations.length} operations are more than the ${maxOperations} allowed`,
      'split the change, or raise COMMIT_MAX_OPERATIONS on the server');
  }
  return {
    operations: operations.map((o, i) => operationOf(o, i)),
    ...(message === undefined ? {} : { message }),
    ...(expectHead === undefined ? {} : { expectHead }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  };
}

function operationOf(o: unknown, i: number): CommitOperation {
  const where = `operation ${i}`;
  if (!isObject(o)) throw bad(`${where} is not an object`);
  const { op, path, content, encoding, ifMatch, from } = o;
  if (typeof op !== 'string' || !OPS.has(op as CommitOperation['op'])) {
    throw bad(`${where}: "op" must be one of ${[...OPS].join(', ')}`);
  }
  const kind = op as CommitOperation['op'];
  const out: CommitOperation = { op: kind, path: pathOf(path, `${where}: "path"`) };
  const wantsContent = kind === 'create' || kind === 'replace' || kind === 'upsert';
  if (wantsContent) {
    if (typeof content !== 'string') throw bad(`${where}: ${kind} needs "content" (a string)`);
    out.body = decode(content, encoding, where);
  } else if (content !== undefined || encoding !== undefined) {
    throw bad(`${where}: ${kind} takes no "content"`);
  }
  if (kind === 'move') out.from = pathOf(from, `${where}: "from"`);
  else if (from !== undefined) throw bad(`${where}: only a move takes "from"`);
  if (ifMatch !== undefined) {
    if (kind === 'create') throw bad(`${where}: a create has nothing to match`, 'leave "ifMatch" out');
    const id = typeof ifMatch === 'string' ? ifMatch.replace(/^"(.*)"$/, '$1') : '';
    if (!OID.test(id)) throw bad(`${where}: "ifMatch" must be a blob id (an ETag, with or without its quotes)`);
    out.ifMatch = id;
  }
  return out;
}

function decode(content: string, encoding: unknown, where: string): Uint8Array {
  if (encoding === undefined || encoding === 'utf-8') return Buffer.from(content, 'utf8');
  if (encoding !== 'base64') throw bad(`${where}: "encoding" must be "utf-8" or "base64"`);
  if (content.length % 4 !== 0 || !BASE64.test(content)) throw bad(`${where}: "content" is not valid base64`);
  return Buffer.from(content, 'base64');
}

/** A path as the REST API would take it, so that every committed file can be read back by its URL. */
function pathOf(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw bad(`${what} must be a non-empty string`);
  const raw = value.startsWith('/') ? value : `/${value}`;
  if (Object.hasOwn(RESERVED_PATHS, raw)) throw bad(`${what}: ${raw} is reserved by the API`);
  try {
    return parseResourcePath(raw.split('/').map(encodeSegment).join('/'));
  } catch (err) {
    if (err instanceof PathError) throw new HttpError(400, `${what}: ${err.message}`, err.detail);
    throw err;
  }
}

/** Percent-encodes what a URL path cannot hold as is, so parseResourcePath sees the same text decoded. */
const encodeSegment = (s: string): string => s.replace(/[%?#\x00-\x20\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
