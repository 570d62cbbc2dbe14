// RFC 9110 conditional requests and ranges, as the API applies them to files: the parsers of If-Match,
// If-None-Match, Range and If-Range, and the evaluation order of §13.2.2. Pure: headers in, decisions out.
//
// A file's ETag is its Git blob id in quotes, always strong: the id is a hash of the content.

import type { WriteCondition } from '../store/store.js';
import { HttpError } from './http-error.js';

/** An If-Match / If-None-Match value: `*`, or a list of entity tags. */
export type EntityTags = '*' | ReadonlyArray<{ weak: boolean; tag: string }>;

/** The ETag header value of a blob id. */
export const etagOf = (oid: string): string => `"${oid}"`;

const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/** Parses an entity-tag list (§8.8.3, §13.1.1); undefined when the header is absent, 400 when malformed. */
export function parseEntityTags(name: string, value: string | undefined): EntityTags | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '*') return '*';
  const tags: Array<{ weak: boolean; tag: string }> = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue; // the list syntax allows empty elements
    const m = ENTITY_TAG.exec(item);
    if (m === null) {
      throw new HttpError(400, `the ${name} header is not a list of entity tags`,
        `send ${name}: "<etag>" with an ETag this server gave out, or ${name}: *`);
    }
    tags.push({ weak: m[1] !== undefined, tag: m[2]! });
  }
  if (tags.length === 0) throw new HttpError(400, `the ${name} header is empty`, `send ${name}: "<etag>", or leave it out`);
  return tags;
}

/** Strong comparison (If-Match, If-Range): a weak tag never matches. */
function strongMatch(tags: EntityTags, oid: string): boolean {
  return tags === '*' || tags.some((t) => !t.weak && t.tag === oid);
}

/** Weak comparison (If-None-Match): W/"x" matches "x". */
function weakMatch(tags: EntityTags, oid: string): boolean {
  return tags === '*' || tags.some((t) => t.tag === oid);
}

export interface ReadPreconditions {
  ifMatch?: EntityTags;
  ifNoneMatch?: EntityTags;
}

/** §13.2.2 for GET and HEAD of a file that exists: 412 when If-Match fails, 304 when If-None-Match matches. */
export function evaluateRead(pre: ReadPreconditions, oid: string): 200 | 304 | 412 {
  if (pre.ifMatch !== undefined && !strongMatch(pre.ifMatch, oid)) return 412;
  if (pre.ifNoneMatch !== undefined && weakMatch(pre.ifNoneMatch, oid)) return 304;
  return 200;
}

/**
 * The store's per-path compare-and-swap for PUT and DELETE. If-Match compares strongly, so its weak tags are
 * dropped (a list of weak tags alone matches nothing); If-None-Match compares weakly.
 */
export function writeCondition(pre: ReadPreconditions): WriteCondition | undefined {
  const { ifMatch, ifNoneMatch } = pre;
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  return {
    ...(ifMatch === undefined ? {} : { ifMatch: ifMatch === '*' ? '*' : ifMatch.filter((t) => !t.weak).map((t) => t.tag) }),
    ...(ifNoneMatch === undefined ? {} : { ifNoneMatch: ifNoneMatch === '*' ? '*' : ifNoneMatch.map((t) => t.tag) }),
  };
}

/** A Range header reduced to what this server serves: one byte range, still to be resolved against the size. */
export type RangeSpec = { first: number; last?: number } | { suffix: number };

/**
 * One `bytes=` range (§14.1.2), or undefined when the header should be ignored and the whole file sent:
 * absent, another unit, malformed (a recipient ignores an invalid Range), or several ranges (which a server
 * may answer with the whole representation, and this one does).
 */
export function parseRange(value: string | undefined): RangeSpec | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(value.trim());
  if (m === null) return undefined;
  const [first, last] = [m[1]!, m[2]!];
  if (first === '' && last === '') return undefined;
  if (first === '') return { suffix: Number(last) };
  const start = Number(first);
  if (last === '') return { first: start };
  const end = Number(last);
  if (end < start) return undefined;
  return { first: start, last: end };
}

/** Inclusive byte offsets of a satisfiable range, or null when it is not satisfiable (416). */
export function resolveRange(spec: RangeSpec, size: number): { start: number; end: number } | null {
  if ('suffix' in spec) {
    if (spec.suffix === 0 || size === 0) return null;
    return { start: Math.max(0, size - spec.suffix), end: size - 1 };
  }
  if (spec.first >= size) return null;
  return { start: spec.first, end: Math.min(spec.last ?? size - 1, size - 1) };
}

/**
 * If-Range (§13.1.5): the range applies only when the validator is a strong ETag matching the file. A date
 * never matches, since files have no Last-Modified; then the whole file is sent.
 */
export function rangeApplies(ifRange: string | undefined, oid: string): boolean {
  if (ifRange === undefined) return true;
  const m = ENTITY_TAG.exec(ifRange.trim());
  return m !== null && m[1] === undefined && m[2] === oid;
}
