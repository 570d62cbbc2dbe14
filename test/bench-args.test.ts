// Flags of the soak tool and the bench: defaults, durations, and clear errors for bad input.
import t from 'tap';
import { ArgsError, formatDuration, parseDuration } from '../bench/args.js';
import { parseBenchArgs } from '../bench/bench.js';
import { parseSoakArgs } from '../bench/soak.js';

t.test('durations', async (t) => {
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('10m'), 600_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration(' 3s '), 3000);
  for (const bad of ['10', '', 'm', '10x', '-5s', '0s', '1h 30m', 's10', '1e3s']) {
    t.throws(() => parseDuration(bad), ArgsError, `refuses ${JSON.stringify(bad)}`);
  }
  t.match(t.throws(() => parseDuration('10')) as unknown as Error, { message: /unit, e\.g\. 90s/ });
  t.equal(formatDuration(600_000), '10m');
  t.equal(formatDuration(5_400_000), '1h30m');
  t.equal(formatDuration(90_000), '1m30s');
  t.equal(formatDuration(1500), '1.5s');
  t.equal(formatDuration(250), '250ms');
});

t.test('defaults', async (t) => {
  t.same(parseSoakArgs([]), {
    help: false, repetitions: 4, durationMs: 600_000, fileSizeKiB: 1024, content: 'random', putReadback: true,
    warmupCycles: 0, concurrency: 1, backend: 'git', requestTimeoutMs: 60_000,
  });
});

t.test('every flag, in both spellings', async (t) => {
  const a = parseSoakArgs(['--repetitions', '120', '--duration=3s', '--filesize', '4', '--concurrency=2',
    '--url', 'http://127.0.0.1:8080/', '--out', 'res', '--request-timeout', '5s']);
  t.same(a, {
    help: false, repetitions: 120, durationMs: 3000, fileSizeKiB: 4, content: 'random', putReadback: true,
    warmupCycles: 0, concurrency: 2, backend: 'git', requestTimeoutMs: 5000, url: 'http://127.0.0.1:8080',
    outDir: 'res',
  });
  t.equal(parseSoakArgs(['--backend', 'memory']).backend, 'memory');
  t.equal(parseSoakArgs(['--repetitions', '0.5']).repetitions, 0.5);
  t.equal(parseSoakArgs(['-h']).help, true);
  t.equal(parseSoakArgs(['--url', 'http://h:1/base/']).url, 'http://h:1/base');
});

t.test('bad flags give a clear ArgsError', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'.*--help/],
    [['extra'], /positional.*--help/i],
    [['--duration'], /--duration.*--help/],
    [['--duration', '10'], /--duration: bad duration "10"/],
    [['--repetitions', '0'], /--repetitions must be a number greater than 0 \(got "0"\)/],
    [['--repetitions', 'four'], /--repetitions must be a number/],
    [['--filesize', '1.5'], /--filesize must be a whole number of at least 1/],
    [['--concurrency', '0'], /--concurrency must be a whole number/],
    [['--backend', 'sql'], /--backend must be git or memory/],
    [['--url', 'nope'], /--url "nope" is not a URL/],
    [['--url', 'ftp://x/'], /--url must be http/],
    [['--url', 'http://x/', '--backend', 'memory'], /--backend only applies/],
    [['--out', ''], /--out needs a directory/],
    [['--content', 'text'], /--content must be one of random, alnum \(got "text"\)/],
    [['--put-readback', 'yes'], /--put-readback must be one of on, off/],
    [['--cycles', '0'], /--cycles must be a whole number from 1 to/],
    [['--cycles', '8', '--duration', '1m'], /--cycles runs cycles back to back; drop --duration/],
    [['--cycles', '8', '--repetitions', '4'], /drop --repetitions or drop --cycles/],
    [['--cycles', '8', '--concurrency', '2'], /drop --concurrency or drop --cycles/],
    [['--warmup=-1'], /--warmup must be a whole number from 0 to/],
    [['--warmup', 'two'], /--warmup must be a whole number from 0 to/],
    [['--pid', '123'], /--pid names the process of the server at --url; give --url too/],
    [['--url', 'http://x/', '--pid', 'abc'], /--pid must be a process id/],
    [['--url', 'http://x/', '--pid', '0'], /--pid must be a process id/],
  ];
  for (const [argv, message] of cases) {
    const err = t.throws(() => parseSoakArgs(argv), `refuses ${argv.join(' ')}`) as unknown;
    t.type(err, ArgsError);
    t.match((err as Error).message, message);
  }
});

t.test('the issue-15 cycle: a fixed number of six-request cycles after a warm-up, against a URL and PID', async (t) => {
  const a = parseSoakArgs(['--url', 'http://127.0.0.1:8090', '--pid', '12345', '--warmup', '2', '--cycles', '8',
    '--put-readback', 'off', '--content', 'alnum', '--filesize', '10240']);
  t.same(a, {
    help: false, repetitions: 4, durationMs: 600_000, fileSizeKiB: 10240, content: 'alnum', putReadback: false,
    warmupCycles: 2, cycles: 8, concurrency: 1, backend: 'git', requestTimeoutMs: 60_000,
    url: 'http://127.0.0.1:8090', pid: 12345,
  });
  t.equal(parseSoakArgs(['--content=random']).content, 'random');
  t.equal(parseSoakArgs(['--put-readback', 'on']).putReadback, true);
  t.equal(parseSoakArgs(['--warmup', '0']).warmupCycles, 0);
  t.equal(parseSoakArgs(['--url', 'http://h:1']).pid, undefined, '--url alone: nothing sampled');
});

t.test('bench: --url and --pid, and the flags that only fit its own servers', async (t) => {
  const own = parseBenchArgs([]);
  t.equal(own.url, undefined);
  t.equal(own.pid, undefined);
  const a = parseBenchArgs(['--url', 'http://127.0.0.1:8090/', '--pid', '4242', '--sizes', '1k']);
  t.equal(a.url, 'http://127.0.0.1:8090');
  t.equal(a.pid, 4242);
  t.same(a.sizes, [1024]);
  t.equal(parseBenchArgs(['--url', 'http://127.0.0.1:8090']).pid, undefined);
  const cases: [string[], RegExp][] = [
    [['--pid', '1'], /--pid names the process of the server at --url/],
    [['--url', 'http://x/', '--pid', 'x'], /--pid must be a process id/],
    [['--url', 'nope'], /--url "nope" is not a URL/],
    [['--url', 'http://x/', '--in-process'], /--in-process only applies to the servers the bench starts itself/],
    [['--url', 'http://x/', '--big-files', '100'], /--big-files only applies/],
    [['--url', 'http://x/', '--keep'], /--keep only applies/],
  ];
  for (const [argv, message] of cases) {
    const err = t.throws(() => parseBenchArgs(argv), `refuses ${argv.join(' ')}`) as unknown;
    t.type(err, ArgsError);
    t.match((err as Error).message, message);
  }
});
