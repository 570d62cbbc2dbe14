// The benchmark tools in their smallest modes: the Markdown they print has every table, every figure is a
// number, a warm write is one round trip, and the floor columns are there. Timings are not asserted.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { main as benchMain, parseBenchArgs } from '../bench/bench.js';
import { repsFor } from '../bench/bench-run.js';
import { fastImportStream, filePath } from '../bench/repos.js';
import { buildTrees, type Obj } from '../bench/floor.js';
import { benchData, mixedData } from '../bench/data.js';
import { markdownTable, parseSize } from '../bench/markdown.js';
import { peakRss, resetPeakRss, statusBytes } from '../bench/proc.js';
import { startApiProcess } from '../bench/server-process.js';
import { startFixtureServer } from '../fixtures/git-server.js';
import { git } from '../fixtures/repo.js';
import { main as zlibMain } from '../bench/zlib-bench.js';
import { loadConfig } from '../src/api/config.js';
import { startServer } from '../src/api/server.js';

interface Table {
  header: string[];
  rows: string[][];
}

/** Every Markdown table in `md`, in order. */
function tables(md: string): Table[] {
  const out: Table[] = [];
  let block: string[][] = [];
  const flush = () => {
    if (block.length >= 2) out.push({ header: block[0]!, rows: block.slice(2) });
    block = [];
  };
  for (const line of md.split('\n')) {
    if (line.startsWith('|')) block.push(line.slice(1, -1).split('|').map((c) => c.trim()));
    else flush();
  }
  flush();
  return out;
}

function tableWith(t: Test, md: string, column: string): Table {
  const found = tables(md).find((x) => x.header.includes(column));
  t.ok(found, `a table with a "${column}" column`);
  return found ?? { header: [], rows: [] };
}

function col(table: Table, row: string[], name: string): string {
  return row[table.header.indexOf(name)] ?? '';
}

function isPositiveNumber(cell: string): boolean {
  return /^\d+(\.\d+)?$/.test(cell) && Number(cell) > 0;
}

t.test('helpers', async (t) => {
  t.equal(parseSize('1k'), 1024);
  t.equal(parseSize('10MiB'), 10 * 1024 * 1024);
  t.equal(parseSize('1x'), undefined);
  t.equal(statusBytes('Name:\tnode\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n', 'VmHWM'), 2048 * 1024);
  t.equal(statusBytes('VmRSS: 1 kB\n', 'VmHWM'), undefined);
  t.equal(markdownTable(['a', 'b'], [['x', 1.5]]), '| a | b |\n|---|---:|\n| x | 1.50 |');

  // Half random, half text: compresses, but far less than text alone.
  const data = mixedData(1024 * 1024);
  const ratio = deflateSync(data).length / data.length;
  t.ok(ratio > 0.5 && ratio < 0.75, `deflated to ${ratio}`);
  t.equal(mixedData(1024).length, 1024);

  const a = parseBenchArgs(['--quick']);
  t.same(a.sizes, [1024, 1024 * 1024]);
  t.same(a.writers, [1, 8, 32]);
  t.same(parseBenchArgs([]).sizes, [1024, 1 << 20, 10 << 20, 100 << 20]);
  t.throws(() => parseBenchArgs(['--sizes', '1q']));
  t.equal(repsFor(100 << 20), 2);
  t.equal(repsFor(100 << 20, 7), 7);

  const stream = Buffer.concat([...fastImportStream({ files: 250, perDir: 100 }, 'main')]).toString();
  t.equal(stream.match(/^M 100644 inline /gm)?.length, 250);
  t.match(stream, `M 100644 inline ${filePath(2, 49)}\n`);
  t.notMatch(stream, filePath(2, 50));

  // Trees as git writes them: the root of {a/b/c: X} holds one tree entry "a".
  const objects: Obj[] = [];
  buildTrees(new Map([['a/b/c', 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391']]), objects);
  t.same(objects.map((o) => o.type), ['tree', 'tree', 'tree']);
  t.match(objects[2]!.data.toString('latin1'), /^40000 a\0/);
});

t.test('zlib-bench --quick', async (t) => {
  let md = '';
  const code = await zlibMain(['--quick'], (s) => (md += s), () => {});
  t.equal(code, 0);
  t.notMatch(md, /NaN|n\/a|Infinity/);
  const table = tableWith(t, md, 'node:zlib / pako');
  t.same(table.header.slice(0, 3), ['size', 'op', 'API']);
  t.equal(table.rows.length, 8, '2 sizes x deflate/inflate x one-shot/streaming');
  for (const row of table.rows) {
    for (const name of ['pako MB/s', 'node:zlib MB/s', 'node:zlib / pako', 'pako peak RSS MiB', 'node:zlib peak RSS MiB']) {
      t.ok(isPositiveNumber(col(table, row, name)), `${row.slice(0, 3).join(' ')}: ${name} = ${col(table, row, name)}`);
    }
  }
  t.same([...new Set(table.rows.map((r) => r[0]))], ['1 KiB', '1 MiB']);
  t.match(md, /Total run time: \d+\.\d s/);

  const adaptive = tableWith(t, md, 'adaptive / stream');
  t.same(adaptive.rows.map((r) => r[0]), ['mixed', 'random', 'text']);
  for (const row of adaptive.rows) {
    t.ok(isPositiveNumber(col(adaptive, row, 'adaptive MB/s')) && isPositiveNumber(col(adaptive, row, 'level-1 stream MB/s')));
    // Level 1 wherever the stream's level 1 would gain anything: about the same compression, however fast.
    t.ok(Math.abs(Number(row[3]) - Number(row[5])) <= 0.01, `${row[0]}: ratios ${row[3]} and ${row[5]}`);
  }
});

t.test('bench --quick, tiny, API in-process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const outFile = join(dir, 'bench.md');
  let md = '';
  // In-process: three child servers under the TypeScript loader would take most of the time budget; the child
  // process is checked on its own below.
  const code = await benchMain(['--quick', '--in-process', '--reps', '2', '--writers', '1,4',
    '--writers-duration', '300ms', '--big-files', '1000', '--out', outFile], (s) => (md += s), () => {});
  t.equal(code, 0);
  t.equal(await readFile(outFile, 'utf8'), md, '--out holds the same Markdown');
  t.notMatch(md, /NaN|n\/a|Infinity/);

  const latency = tableWith(t, md, 'ours/floor');
  t.ok(latency.header.includes('floor round trips') && latency.header.includes('floor p50 ms'));
  t.equal(latency.rows.length, 8, '2 sizes x 4 operations');
  for (const row of latency.rows) {
    const what = `${row[0]} ${row[1]}`;
    const op = col(latency, row, 'op');
    if (op !== 'GET') t.equal(col(latency, row, 'round trips'), '1', `${what}: a warm write is one round trip`);
    // A count, or a range of counts when reps differ (a blob read from the disk cache costs the ls-refs alone).
    else t.ok(col(latency, row, 'round trips').split('–').every(isPositiveNumber), `${what}: round trips`);
    t.equal(col(latency, row, 'floor round trips'), op === 'GET' ? '2' : '1', `${what}: floor round trips`);
    for (const name of ['p50 ms', 'floor p50 ms', 'ours/floor']) {
      t.ok(isPositiveNumber(col(latency, row, name)), `${what}: ${name} = ${col(latency, row, name)}`);
    }
  }

  const writers = tableWith(t, md, 'writes/s');
  t.same(writers.rows.map((r) => col(writers, r, 'writers')), ['1', '4']);
  for (const row of writers.rows) {
    t.equal(col(writers, row, 'errors'), '0');
    for (const name of ['writes', 'writes/s', 'pushes', 'p50 ms', 'peak RSS MiB']) {
      t.ok(isPositiveNumber(col(writers, row, name)), `writers ${row[0]}: ${name} = ${col(writers, row, name)}`);
    }
  }
  // One writer waits for each answer: every write is its own push.
  t.equal(col(writers, writers.rows[0]!, 'writes'), col(writers, writers.rows[0]!, 'pushes'));

  const repos = tableWith(t, md, 'vs 10 files');
  t.equal(repos.rows.length, 4);
  t.same(repos.rows.map((r) => r[0]), ['10 files / 10 dirs', '10 files / 10 dirs', '1000 files / 10 dirs',
    '1000 files / 10 dirs']);
  for (const row of repos.rows) {
    if (col(repos, row, 'op') === 'PUT') t.equal(col(repos, row, 'round trips'), '1', 'a warm PUT is one round trip');
    t.ok(isPositiveNumber(col(repos, row, 'p50 ms')) && isPositiveNumber(col(repos, row, 'vs 10 files')));
    t.ok(isPositiveNumber(col(repos, row, 'floor p50 ms')) && isPositiveNumber(col(repos, row, 'floor vs 10 files')) &&
      isPositiveNumber(col(repos, row, 'ours/floor')), `${col(repos, row, 'op')}: the floor is measured`);
  }

  const phases = tables(md).find((x) => x.header[0] === 'phase');
  t.ok(phases, 'the per-phase RSS table');
  t.equal(phases?.rows.length, 6, '2 writer steps, 2 sizes, 2 repositories');
  for (const row of phases?.rows ?? []) t.ok(isPositiveNumber(row[1] ?? ''), `${row[0]}: ${row[1]}`);
  t.match(md, /Total run time: \d+\.\d s/);
});

t.test('the API as a child process, as the benchmark runs it', async (t) => {
  const server = await startFixtureServer(t);
  const repo = await server.createRepo('child');
  const dir = await mkdtemp(join(tmpdir(), 'bench-child-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const api = await startApiProcess({ repoUrl: repo.url, branch: 'main', logPath: join(dir, 'api.log') });
  t.teardown(() => api.stop());
  t.not(api.pid, process.pid);

  const post = await fetch(`${api.url}/a/b.json`, { method: 'POST', body: '{"x":1}' });
  await post.arrayBuffer();
  t.equal(post.status, 201);
  t.equal((await git(['cat-file', 'blob', 'main:a/b.json'], { cwd: repo.dir })).toString(), '{"x":1}');

  const peak = await peakRss(api.pid);
  t.ok(peak !== undefined && peak > 1024 * 1024, `VmHWM of the server: ${peak}`);
  t.equal(await resetPeakRss(api.pid), true, 'the peak can be reset between phases');
  t.match(await readFile(join(dir, 'api.log'), 'utf8'), /"path":"a\/b.json","status":201/);

  await api.stop();
  t.equal(await peakRss(api.pid), undefined, 'the process is gone');
});

t.test('--data picks what the bodies hold', async (t) => {
  t.equal(parseBenchArgs([]).data, 'mixed');
  t.equal(parseBenchArgs(['--data', 'random']).data, 'random');
  t.throws(() => parseBenchArgs(['--data', 'noise']), /--data must be one of mixed, random, text/);
  const random = benchData('random', 64 * 1024);
  const text = benchData('text', 64 * 1024);
  t.equal(random.length, 64 * 1024);
  t.ok(deflateSync(random).length > random.length * 0.99, 'random bodies do not compress');
  t.ok(deflateSync(text).length < text.length * 0.5, 'text bodies do');
});

t.test('bench --url --pid: the operations and writers of a server it did not start, without the floor', async (t) => {
  const api = await startServer(loadConfig({ BACKEND_TYPE: 'memory', LOG_LEVEL: 'silent' }), { host: '127.0.0.1', port: 0 });
  t.teardown(() => api.close());
  let md = '';
  const code = await benchMain(['--url', api.url, '--pid', String(process.pid), '--sizes', '1k,4k', '--reps', '2',
    '--writers', '1,2', '--writers-duration', '200ms'], (s) => (md += s), () => {});
  t.equal(code, 0);
  t.match(md, `## Benchmark of the server at ${api.url}`);
  t.match(md, /Skipped against a server given by --url: the floor .* and the repository-size phase/);
  t.notMatch(md, /NaN|Infinity/);
  t.notOk(tables(md).some((x) => x.header.some((h) => h.includes('floor') || h === 'round trips')),
    'no floor or round-trip columns');
  t.notOk(tables(md).some((x) => x.header.includes('vs 10 files')), 'no repository-size table');

  const latency = tableWith(t, md, 'p50 ms');
  t.same(latency.header, ['size', 'op', 'reps', 'p50 ms']);
  t.equal(latency.rows.length, 8, '2 sizes x 4 operations');
  for (const row of latency.rows) t.ok(isPositiveNumber(col(latency, row, 'p50 ms')), `${row[0]} ${row[1]}`);

  const writers = tableWith(t, md, 'writes/s');
  t.same(writers.rows.map((r) => col(writers, r, 'writers')), ['1', '2']);
  for (const row of writers.rows) {
    t.equal(col(writers, row, 'errors'), '0');
    t.ok(isPositiveNumber(col(writers, row, 'peak RSS MiB')), 'peak RSS of the --pid process');
  }
  const phases = tables(md).find((x) => x.header[0] === 'phase');
  t.same(phases?.header, ['phase', 'peak RSS MiB', 'server CPU s']);
  t.equal(phases?.rows.length, 4, '2 writer steps, 2 sizes');
  for (const row of phases?.rows ?? []) t.match(row[2], /^\d+(\.\d+)?$/, `${row[0]}: CPU ${row[2]}`);

  // A second run against the same server writes under its own directory: no 409 on the same paths.
  t.equal(await benchMain(['--url', api.url, '--sizes', '1k', '--reps', '1', '--writers', '1', '--writers-duration',
    '100ms'], () => {}, () => {}), 0);
});
