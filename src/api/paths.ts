// Turns the path part of a request URL into the normalized file path a Store expects, or refuses it with a
// PathError (400) that says what to change. Pure.

import { PathError } from './http-error.js';

export const MAX_PATH_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 255;

const EXAMPLE = 'e.g. /users/alice/profile.json';
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a leading U+FEFF: it is part of the name
const encoder = new TextEncoder();

/**
 * `rawUrlPath` is the request target as received (`req.url`), query string allowed (and ignored).
 * Returns the segments joined by '/', without the leading slash.
 */
export function parseResourcePath(rawUrlPath: string, maxBytes: number = MAX_PATH_BYTES): string {
  let raw = rawUrlPath;
  const q = raw.search(/[?#]/);
  if (q !== -1) raw = raw.slice(0, q);
  if (!raw.startsWith('/')) throw new PathError('the path must start with "/"', EXAMPLE);
  raw = raw.slice(1);
  if (raw === '') throw new PathError('no file path given', `name a file, ${EXAMPLE}`);
  if (raw.endsWith('/')) {
    throw new PathError('the path ends with "/"', 'paths name files, not directories; remove the trailing slash');
  }
  // Cheap bound before any decoding work: every decoded byte needs at least one raw character.
  if (raw.length > 3 * maxBytes) throw tooLong(maxBytes);

  const rawSegments = raw.split('/');
  const segments = rawSegments.map((s, i) => decodeSegment(s, i + 1));
  const path = segments.join('/');
  const bytes = encoder.encode(path).byteLength;
  if (bytes > maxBytes) throw tooLong(maxBytes, bytes);
  return path;
}

/** True when the target (query ignored) names a directory: it ends with '/' (the root '/' included). */
export function isDirectoryTarget(rawUrlPath: string): boolean {
  const path = rawUrlPath.split(/[?#]/, 1)[0] as string;
  return path.startsWith('/') && path.endsWith('/');
}

/**
 * A directory target ('/' or '/a/b/') → its path without slashes at either end ('' for the root), under the
 * same rules as a file path (a doubled slash, '..', '.git' and the rest are refused alike).
 */
export function parseDirectoryPath(rawUrlPath: string, maxBytes: number = MAX_PATH_BYTES): string {
  const path = rawUrlPath.split(/[?#]/, 1)[0] as string;
  if (path === '/') return '';
  const dir = path.slice(0, -1);
  if (dir.endsWith('/')) throw new PathError('the path ends with "//"', 'remove the doubled slash');
  return parseResourcePath(dir, maxBytes);
}

function tooLong(maxBytes: number, bytes?: number): PathError {
  const got = bytes === undefined ? '' : ` (${bytes} bytes)`;
  return new PathError(`the path is too long${got}`, `paths may be at most ${maxBytes} bytes of UTF-8; use a shorter name`);
}

function decodeSegment(raw: string, n: number): string {
  if (raw === '') {
    throw new PathError(`path segment ${n} is empty ("//")`, 'remove the doubled slash');
  }
  const segment = utf8Decode(percentDecode(raw, n), n);
  const shown = JSON.stringify(segment);
  if (segment.includes('/')) {
    throw new PathError(`path segment ${n} contains an encoded "/" (%2F)`, 'use a plain "/" to separate directories');
  }
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c <= 0x1f || c === 0x7f) {
      const hex = '%' + c.toString(16).toUpperCase().padStart(2, '0');
      throw new PathError(`path segment ${n} contains the control character ${hex}`, 'remove control characters from the name');
    }
  }
  if (segment === '.' || segment === '..') {
    throw new PathError(`path segment ${n} is ${shown}`, 'relative segments are not allowed; give the full path from the root');
  }
  if (isDotGit(segment)) {
    throw new PathError(`path segment ${n} is ${shown}, a name Git reserves (".git")`,
      'Git cannot store a file or directory named ".git" (in any spelling); choose another name');
  }
  const bytes = encoder.encode(segment).byteLength;
  if (bytes > MAX_SEGMENT_BYTES) {
    throw new PathError(`path segment ${n} is too long (${bytes} bytes)`,
      `each file or directory name may be at most ${MAX_SEGMENT_BYTES} bytes of UTF-8`);
  }
  return segment;
}

/** Percent-decodes to bytes; characters that are not escapes are taken as UTF-8 text. */
function percentDecode(raw: string, n: number): Uint8Array {
  if (!raw.includes('%')) return encoder.encode(raw);
  const out: number[] = [];
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new PathError(`path segment ${n} has an invalid percent-escape "${raw.slice(i, i + 3)}"`,
          'write "%" as %25 and other bytes as % followed by two hex digits');
      }
      out.push(parseInt(hex, 16));
      i += 3;
    } else {
      // Copy the run up to the next escape as UTF-8 (handles non-ASCII characters and surrogate pairs alike).
      const next = raw.indexOf('%', i);
      const end = next === -1 ? raw.length : next;
      for (const b of encoder.encode(raw.slice(i, end))) out.push(b);
      i = end;
    }
  }
  return Uint8Array.from(out);
}

function utf8Decode(bytes: Uint8Array, n: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PathError(`path segment ${n} is not valid UTF-8 once percent-decoded`,
      'percent-encode file names as UTF-8 (e.g. "é" is %C3%A9)');
  }
}

// Characters HFS+ ignores when comparing names, so ".g\u200cit" would be ".git" on a Mac checkout.
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/** ".git" in any case, plus the spellings Git's fsck also treats as ".git" on NTFS/HFS+ ("git~1", ".git. "). */
function isDotGit(segment: string): boolean {
  const s = segment.replace(HFS_IGNORED, '').toLowerCase();
  return s === '.git' || /^\.git[. ]+$/.test(s) || s === 'git~1';
}
