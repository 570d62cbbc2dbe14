// Percentiles (nearest rank) and summaries, on arrays whose answers can be checked by hand.
import t from 'tap';
import { growthPercent, percentile, summarize } from '../bench/stats.js';

const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

t.test('nearest-rank percentiles of 1..100 and 1..10', async (t) => {
  const hundred = oneTo(100);
  t.equal(percentile(hundred, 50), 50);
  t.equal(percentile(hundred, 95), 95);
  t.equal(percentile(hundred, 99), 99);
  t.equal(percentile(hundred, 100), 100);
  t.equal(percentile(hundred, 0.5), 1);
  const ten = oneTo(10);
  t.equal(percentile(ten, 50), 5);
  t.equal(percentile(ten, 51), 6);
  t.equal(percentile(ten, 95), 10);
  t.equal(percentile(ten, 10), 1);
  t.equal(percentile(ten, 11), 2);
  // Rank 0.95 * 20 = 19 exactly, despite floating point.
  t.equal(percentile(oneTo(20), 95), 19);
  t.equal(percentile([7], 99), 7);
});

t.test('percentile refuses empty input and p outside (0, 100]', async (t) => {
  t.throws(() => percentile([], 50), RangeError);
  t.throws(() => percentile([1], 0), RangeError);
  t.throws(() => percentile([1], 101), RangeError);
  t.throws(() => percentile([1], NaN), RangeError);
});

t.test('summarize sorts a copy and reports every statistic', async (t) => {
  const values = [30, 10, 50, 20, 40];
  t.same(summarize(values), { count: 5, min: 10, mean: 30, p50: 30, p95: 50, p99: 50, max: 50 });
  t.same(values, [30, 10, 50, 20, 40], 'input untouched');
  const skewed = [...Array<number>(98).fill(1), 500, 1000];
  const s = summarize(skewed);
  t.equal(s.p50, 1);
  t.equal(s.p95, 1);
  t.equal(s.p99, 500);
  t.equal(s.max, 1000);
  t.equal(s.mean, 1598 / 100);
  t.same(summarize([]), { count: 0, min: null, mean: null, p50: null, p95: null, p99: null, max: null });
});

t.test('growthPercent', async (t) => {
  t.equal(growthPercent(100, 150), 50);
  t.equal(growthPercent(200, 100), -50);
  t.equal(growthPercent(0, 10), null);
});
