// Prometheus text exposition format 0.0.4, written by hand: a tiny Registry of counters, gauges and histograms.

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

export interface Metric {
  readonly name: string;
  render(out: string[]): void;
}

/** A metric with one series per distinct combination of label values (given in `labelNames` order). */
abstract class LabeledMetric<S> implements Metric {
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
    for (const l of labelNames) if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(l)) throw new Error(`bad label name ${l}`);
  }

  protected abstract fresh(): S;

  protected stateFor(labels: Labels): S {
    const values = this.labelNames.map((l) => {
      const v = labels[l];
      if (v === undefined) throw new Error(`${this.name}: missing label ${l}`);
      return v;
    });
    if (Object.keys(labels).length !== values.length) throw new Error(`${this.name}: unexpected labels`);
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { values, state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    for (const { values, state } of this.series.values()) this.renderSeries(out, values, state);
  }

  protected abstract renderSeries(out: string[], values: string[], state: S): void;

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabelValue(values[i] as string)}"`);
    if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
  }
}

export class Counter extends LabeledMetric<{ value: number; read?: () => number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }
  protected fresh() {
    return { value: 0 };
  }
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new Error(`${this.name}: counters only go up`);
    this.stateFor(labels).value += by;
  }
  /** Creates the series at zero, so that a dashboard shows 0 rather than nothing before the first event. */
  touch(labels: Labels = {}): void {
    this.stateFor(labels);
  }
  /** The series' value is read at each scrape from a count kept elsewhere (which must only go up). */
  readFrom(labels: Labels, read: () => number): void {
    this.stateFor(labels).read = read;
  }
  protected renderSeries(out: string[], values: string[], s: { value: number; read?: () => number }): void {
    out.push(`${this.name}${this.labelText(values)} ${formatNumber(s.read === undefined ? s.value : s.read())}`);
  }
}

export class Gauge extends LabeledMetric<{ value: number | (() => number | undefined) }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'gauge', labelNames);
  }
  protected fresh() {
    return { value: 0 as number | (() => number | undefined) };
  }
  /** A number, or a function read at each scrape (undefined: not measurable now, the series is left out). */
  set(labels: Labels, value: number | (() => number | undefined)): void {
    this.stateFor(labels).value = value;
  }
  protected renderSeries(out: string[], values: string[], s: { value: number | (() => number | undefined) }): void {
    const v = typeof s.value === 'function' ? s.value() : s.value;
    if (v === undefined) return;
    out.push(`${this.name}${this.labelText(values)} ${formatNumber(v)}`);
  }
}

interface HistogramState {
  counts: number[]; // per bucket, not cumulative; rendered cumulatively
  sum: number;
  count: number;
}

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

export class Histogram extends LabeledMetric<HistogramState> {
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, 'histogram', labelNames);
    if (labelNames.includes('le')) throw new Error('"le" is reserved in histograms');
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  protected fresh(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  /** Creates the series at zero. */
  touch(labels: Labels = {}): void {
    this.stateFor(labels);
  }
  observe(labels: Labels, value: number): void {
    const s = this.stateFor(labels);
    const i = this.buckets.findIndex((b) => value <= b);
    if (i !== -1) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  protected renderSeries(out: string[], values: string[], s: HistogramState): void {
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += s.counts[i]!;
      out.push(`${this.name}_bucket${this.labelText(values, ['le', formatNumber(b)])} ${cumulative}`);
    });
    out.push(`${this.name}_bucket${this.labelText(values, ['le', '+Inf'])} ${s.count}`);
    out.push(`${this.name}_sum${this.labelText(values)} ${formatNumber(s.sum)}`);
    out.push(`${this.name}_count${this.labelText(values)} ${s.count}`);
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }

  /** The whole exposition, ending in a newline. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join('\n') + '\n';
  }
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}
