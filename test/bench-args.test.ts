// Flags of the soak tool: defaults, durations, and clear errors for bad input.
import t from 'tap';
import { ArgsError, formatDuration, parseDuration } from '../bench/args.js';
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
    help: false, repetitions: 4, durationMs: 600_000, fileSizeKiB: 1024, concurrency: 1, backend: 'git',
    requestTimeoutMs: 60_000,
  });
});

t.test('every flag, in both spellings', async (t) => {
  const a = parseSoakArgs(['--repetitions', '120', '--duration=3s', '--filesize', '4', '--concurrency=2',
    '--url', 'http://127.0.0.1:8080/', '--out', 'res', '--request-timeout', '5s']);
  t.same(a, {
    help: false, repetitions: 120, durationMs: 3000, fileSizeKiB: 4, concurrency: 2, backend: 'git',
    requestTimeoutMs: 5000, url: 'http://127.0.0.1:8080', outDir: 'res',
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
  ];
  for (const [argv, message] of cases) {
    const err = t.throws(() => parseSoakArgs(argv), `refuses ${argv.join(' ')}`) as unknown;
    t.type(err, ArgsError);
    t.match((err as Error).message, message);
  }
});
