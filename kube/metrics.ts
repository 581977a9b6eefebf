// A tiny Prometheus text-format (0.0.4) registry: counters, gauges and histograms with labels.
// Small enough to own, and it keeps both programs free of a metrics dependency.
import { KubeError } from './errors.js';

// Prometheus label values of one series (not Kubernetes labels: those are api/selectors.ts Labels).
export type LabelValues = Record<string, string>;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: [string, string]): string {
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

interface MetricOpts {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

abstract class Metric<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  // serialized label values -> series state
  protected readonly series = new Map<string, { values: string[]; state: S }>();
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(o: MetricOpts) {
    if (!NAME_RE.test(o.name)) throw new KubeError('BAD_METRIC', `invalid metric name ${o.name}`);
    for (const l of o.labelNames ?? []) {
      if (!LABEL_RE.test(l) || l.startsWith('__') || l === 'le') {
        throw new KubeError('BAD_METRIC', `invalid label name ${l} on ${o.name}`);
      }
    }
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
  }

  protected slot(labels: LabelValues | undefined, init: () => S): S {
    const values = this.labelNames.map((n) => {
      const v = labels?.[n];
      if (v === undefined) throw new KubeError('BAD_METRIC', `${this.name}: missing label ${n}`);
      return v;
    });
    for (const k of Object.keys(labels ?? {})) {
      if (!this.labelNames.includes(k)) throw new KubeError('BAD_METRIC', `${this.name}: unknown label ${k}`);
    }
    const id = JSON.stringify(values);
    let s = this.series.get(id);
    if (s === undefined) {
      s = { values, state: init() };
      this.series.set(id, s);
    }
    return s.state;
  }

  /** Drops one labelled series (e.g. a Service that went away). */
  remove(labels: LabelValues): void {
    this.series.delete(JSON.stringify(this.labelNames.map((n) => labels[n] ?? '')));
  }

  reset(): void {
    this.series.clear();
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { values, state } of this.series.values()) this.renderSeries(lines, values, state);
    return `${lines.join('\n')}\n`;
  }

  protected abstract renderSeries(out: string[], values: string[], state: S): void;
}

export class Counter extends Metric<{ v: number }> {
  readonly type = 'counter';
  inc(labels?: LabelValues, by = 1): void {
    if (by < 0) throw new KubeError('BAD_METRIC', `${this.name}: counters only go up`);
    this.slot(labels, () => ({ v: 0 })).v += by;
  }
  get(labels?: LabelValues): number {
    return this.slot(labels, () => ({ v: 0 })).v;
  }
  protected renderSeries(out: string[], values: string[], s: { v: number }): void {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${formatValue(s.v)}`);
  }
}

export class Gauge extends Metric<{ v: number }> {
  readonly type = 'gauge';
  set(labels: LabelValues | undefined, v: number): void {
    this.slot(labels, () => ({ v: 0 })).v = v;
  }
  inc(labels?: LabelValues, by = 1): void {
    this.slot(labels, () => ({ v: 0 })).v += by;
  }
  dec(labels?: LabelValues, by = 1): void {
    this.inc(labels, -by);
  }
  get(labels?: LabelValues): number {
    return this.slot(labels, () => ({ v: 0 })).v;
  }
  protected renderSeries(out: string[], values: string[], s: { v: number }): void {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${formatValue(s.v)}`);
  }
}

interface HistState {
  counts: number[]; // per bucket, not cumulative
  sum: number;
  count: number;
}

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram extends Metric<HistState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];
  constructor(o: MetricOpts & { buckets?: readonly number[] }) {
    super(o);
    const b = [...(o.buckets ?? DEFAULT_BUCKETS)].sort((x, y) => x - y);
    this.buckets = b.filter((x) => x !== Number.POSITIVE_INFINITY);
  }
  observe(labels: LabelValues | undefined, v: number): void {
    const s = this.slot(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += v;
    s.count += 1;
  }
  protected renderSeries(out: string[], values: string[], s: HistState): void {
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += s.counts[i]!;
      out.push(
        `${this.name}_bucket${labelText(this.labelNames, values, ['le', formatValue(b)])} ${cumulative}`,
      );
    });
    out.push(`${this.name}_bucket${labelText(this.labelNames, values, ['le', '+Inf'])} ${s.count}`);
    out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${formatValue(s.sum)}`);
    out.push(`${this.name}_count${labelText(this.labelNames, values)} ${s.count}`);
  }
}

export class Registry {
  // metric name -> metric
  private readonly metrics = new Map<string, { render(): string }>();
  private readonly collectors: Array<() => void> = [];

  /** Runs `fn` before every render, to set gauges whose value is read at scrape time. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  counter(o: MetricOpts): Counter {
    return this.register(new Counter(o));
  }
  gauge(o: MetricOpts): Gauge {
    return this.register(new Gauge(o));
  }
  histogram(o: MetricOpts & { buckets?: readonly number[] }): Histogram {
    return this.register(new Histogram(o));
  }

  /** The whole registry in Prometheus text format. */
  render(): string {
    for (const c of this.collectors) c();
    return [...this.metrics.values()].map((m) => m.render()).join('');
  }

  private register<M extends { name: string; render(): string }>(m: M): M {
    if (this.metrics.has(m.name)) throw new KubeError('BAD_METRIC', `metric ${m.name} registered twice`);
    this.metrics.set(m.name, m);
    return m;
  }
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
