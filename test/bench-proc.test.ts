// Parsing /proc/<pid>/stat and /proc/<pid>/status, and a live read of our own process.
import t from 'tap';
import { parseProcStat, parseProcStatusRss, readProcSample, toSample } from '../bench/proc.js';

// A command name with spaces and a ")" must not shift the fields.
const STAT = '4242 (node (a) b) S 1 4242 4242 0 -1 4194560 8000 0 12 0 1234 567 89 10 20 0 11 0 777 ' +
  '1000000 25000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n';

t.test('stat fields 14-17 are utime, stime, cutime, cstime', async (t) => {
  t.same(parseProcStat(STAT), { utime: 1234, stime: 567, cutime: 89, cstime: 10 });
  t.throws(() => parseProcStat('garbage'), /no "\)"/);
  t.throws(() => parseProcStat('1 (x) S 1 2'), /field 14/);
});

t.test('VmRSS in kB becomes bytes', async (t) => {
  const status = 'Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t   81920 kB\nRssAnon:\t 1 kB\n';
  t.equal(parseProcStatusRss(status), 81920 * 1024);
  t.throws(() => parseProcStatusRss('Name:\tzombie\n'), /no VmRSS/);
});

t.test('ticks become seconds', async (t) => {
  t.same(toSample({ utime: 150, stime: 50, cutime: 30, cstime: 20 }, 4096, 100),
    { rssBytes: 4096, cpuSeconds: 2, childCpuSeconds: 0.5 });
});

t.test('our own process', async (t) => {
  const s = await readProcSample(process.pid);
  // RSS as /proc reports it is what process.memoryUsage() reads too; both are at least the heap in use.
  t.ok(s.rssBytes >= process.memoryUsage().heapUsed, 'RSS covers the heap');
  t.ok(s.cpuSeconds > 0, 'some CPU time was used');
  await t.rejects(readProcSample(2 ** 22 + 12345), { code: 'ENOENT' });
});
