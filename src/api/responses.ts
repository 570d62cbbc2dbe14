// Writing answers: JSON bodies, and a file's bytes streamed through with their length checked.
import type { ServerResponse } from 'node:http';

export const JSON_TYPE = 'application/json';

/** What is read at a commit id never changes (a branch or tag name may move: those reads are not marked). */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

export const pinned = (ref: string | undefined): boolean => ref !== undefined && /^[0-9a-f]{40}$/.test(ref);

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A 200 JSON answer to GET, or its headers alone to HEAD. */
export function sendJsonTo(res: ServerResponse, method: 'GET' | 'HEAD', value: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(value);
  res.writeHead(200, { ...headers, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(method === 'HEAD' ? undefined : text);
}

/** Passes the store's stream through, failing if it yields more or fewer bytes than the size it announced. */
export async function* exactly(stream: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.byteLength;
    if (n > size) throw new Error(`the store's stream is longer than the announced ${size} bytes`);
    yield chunk;
  }
  if (n !== size) throw new Error(`the store's stream ended after ${n} of ${size} bytes`);
}

/**
 * Bytes `start` to `end` (inclusive) of a stream. What comes before is read and dropped, so memory stays a
 * chunk whatever the offset; once `end` is passed the source is stopped, which releases what it holds.
 */
export async function* slice(stream: AsyncIterable<Uint8Array>, start: number, end: number): AsyncGenerator<Uint8Array> {
  let at = 0;
  for await (const chunk of stream) {
    const from = Math.max(0, start - at);
    const to = Math.min(chunk.byteLength, end + 1 - at);
    at += chunk.byteLength;
    if (to > from) yield chunk.subarray(from, to);
    if (at > end) return;
  }
}

/** Tells the store we will not read the stream (HEAD, 416), so it can release what it holds. */
export async function discard(stream: AsyncIterable<Uint8Array>): Promise<void> {
  await stream[Symbol.asyncIterator]().return?.();
}
