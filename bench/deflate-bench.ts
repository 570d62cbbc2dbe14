// The large-body deflate (src/pack/adaptive-deflate.ts) against what it replaced: one level-1 node:zlib
// stream fed the same 64 KiB chunks. Printed by `npm run zlib-bench` as its second table.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDeflate, inflateSync } from 'node:zlib';
import { adaptiveDeflate } from '../src/pack/adaptive-deflate.js';
import { benchData, DATA_KINDS, feedChunks, type DataKind } from './data.js';
import { markdownTable, sizeLabel, type Cell } from './markdown.js';

export interface DeflateRow {
  kind: DataKind;
  size: number;
  /** Best of the repetitions, MB/s of input, and output size / input size. */
  stream: { mbPerSec: number; ratio: number };
  adaptive: { mbPerSec: number; ratio: number };
}

async function levelOneStream(data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(part: Buffer, _encoding, done) {
      parts.push(part);
      done();
    },
  });
  await pipeline(Readable.from(feedChunks(data)), createDeflate({ level: 1 }), sink);
  return Buffer.concat(parts);
}

async function adaptive(data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of adaptiveDeflate(Readable.from(feedChunks(data)))) parts.push(part);
  return Buffer.concat(parts);
}

async function best(data: Buffer, reps: number, run: (d: Buffer) => Promise<Buffer>): Promise<{ mbPerSec: number; ratio: number }> {
  let fastest = Infinity;
  let out: Buffer | undefined;
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    out = await run(data);
    fastest = Math.min(fastest, performance.now() - start);
  }
  if (out === undefined || !inflateSync(out).equals(data)) throw new Error('deflate-bench: output does not inflate to the input');
  return { mbPerSec: Math.round(data.length / 1e3 / fastest), ratio: Math.round((out.length / data.length) * 1000) / 1000 };
}

export async function runDeflateBench(size: number, reps: number, progress: (line: string) => void = () => {}): Promise<DeflateRow[]> {
  const rows: DeflateRow[] = [];
  for (const kind of DATA_KINDS) {
    progress(`${sizeLabel(size)} ${kind}: level-1 stream, adaptive`);
    const data = benchData(kind, size);
    rows.push({ kind, size, stream: await best(data, reps, levelOneStream), adaptive: await best(data, reps, adaptive) });
  }
  return rows;
}

export function formatDeflateTable(rows: DeflateRow[], reps: number): string {
  const cells = rows.map((r): Cell[] => [r.kind, sizeLabel(r.size), r.stream.mbPerSec, r.stream.ratio,
    r.adaptive.mbPerSec, r.adaptive.ratio, Math.round((r.adaptive.mbPerSec / r.stream.mbPerSec) * 100) / 100]);
  return [
    '### Large bodies: adaptive deflate against one level-1 stream',
    '',
    'What a large body is deflated with (src/pack/adaptive-deflate.ts: stored, Huffman-only or level 1 per 64 KiB ' +
      'window, in segments deflated in parallel) against one node:zlib level-1 stream; both fed 64 KiB chunks, ' +
      `best of ${reps}. Kinds as in the API benchmark's --data. MB/s of input; ratio = output / input.`,
    '',
    markdownTable(['data', 'size', 'level-1 stream MB/s', 'ratio', 'adaptive MB/s', 'ratio', 'adaptive / stream'], cells),
    '',
  ].join('\n');
}
