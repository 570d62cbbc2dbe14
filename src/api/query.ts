// The query parameters the API reads: `ref` on reads, and `limit`, `cursor`, `recursive` on listings. Pure.
// Any other parameter is ignored, as before these existed.

import { HttpError } from './http-error.js';

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

export interface ReadQuery {
  ref?: string;
}

export interface ListQuery extends ReadQuery {
  limit: number;
  cursor?: string;
  recursive: boolean;
}

function paramsOf(rawUrl: string): URLSearchParams {
  const q = rawUrl.indexOf('?');
  if (q === -1) return new URLSearchParams();
  return new URLSearchParams(rawUrl.slice(q + 1).split('#', 1)[0]);
}

/** A parameter given once, or undefined; twice is a 400 (which one was meant?). */
function single(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw new HttpError(400, `the query parameter ${name} is given ${all.length} times`, 'give it once');
  return all[0];
}

export function readQuery(rawUrl: string): ReadQuery {
  const ref = single(paramsOf(rawUrl), 'ref');
  if (ref === '') throw new HttpError(400, 'ref is empty', 'give a branch name, a tag name or a full commit id, or leave ref out');
  return ref === undefined ? {} : { ref };
}

/** Writes always go to the configured branch: a ref on one is refused rather than ignored. */
export function refuseRef(rawUrl: string, method: string): void {
  if (paramsOf(rawUrl).has('ref')) {
    throw new HttpError(400, `ref cannot be given on ${method}`, 'writes go to the configured branch; remove ?ref=');
  }
}

export function listQuery(rawUrl: string): ListQuery {
  const params = paramsOf(rawUrl);
  const out: ListQuery = { ...readQuery(rawUrl), limit: DEFAULT_LIST_LIMIT, recursive: false };
  out.limit = limitOf(params, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT);
  const cursor = single(params, 'cursor');
  if (cursor !== undefined) out.cursor = cursor;
  const recursive = single(params, 'recursive');
  if (recursive !== undefined) {
    if (recursive !== 'true' && recursive !== 'false') {
      throw new HttpError(400, `recursive ${JSON.stringify(recursive)} is not true or false`, 'use recursive=true');
    }
    out.recursive = recursive === 'true';
  }
  return out;
}

export const DEFAULT_HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 1000;

export interface HistoryQuery extends ReadQuery {
  limit: number;
  cursor?: string;
}

/** `?history` (any value) asks a GET or HEAD for the path's history instead of its content or listing. */
export function wantsHistory(rawUrl: string): boolean {
  return paramsOf(rawUrl).has('history');
}

export function historyQuery(rawUrl: string): HistoryQuery {
  const params = paramsOf(rawUrl);
  const out: HistoryQuery = { ...readQuery(rawUrl), limit: limitOf(params, DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT) };
  const cursor = single(params, 'cursor');
  if (cursor !== undefined) out.cursor = cursor;
  return out;
}

function limitOf(params: URLSearchParams, fallback: number, max: number): number {
  const limit = single(params, 'limit');
  if (limit === undefined) return fallback;
  if (!/^[1-9][0-9]{0,5}$/.test(limit) || Number(limit) > max) {
    throw new HttpError(400, `limit ${JSON.stringify(limit)} is not a number from 1 to ${max}`, `leave it out for ${fallback} a page`);
  }
  return Number(limit);
}
