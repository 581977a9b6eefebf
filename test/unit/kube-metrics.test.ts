import { afterEach, describe, expect, it } from 'vitest';
import { HealthServer } from '../../kube/health-server.js';
import { CONTENT_TYPE, Registry } from '../../kube/metrics.js';
import { registerProcessMetrics } from '../../kube/process-metrics.js';

/** A strict-enough parser of the text format: HELP/TYPE per family, then samples. */
function parse(text: string) {
  const families = new Map<string, { help?: string; type?: string }>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.trimEnd().split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const f = families.get(meta[2]!) ?? {};
      if (meta[1] === 'HELP') f.help = meta[3]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else f.type = meta[3];
      families.set(meta[2]!, f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
    let consumed = 0;
    for (const l of (m[2] ?? '').matchAll(re)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed += l[0].length;
    }
    expect(consumed).toBe((m[2] ?? '').length);
    const v = m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]);
    samples.push({ name: m[1]!, labels, value: v });
  }
  return { families, samples };
}

describe('metrics registry', () => {
  it('renders counters and gauges with labels, HELP and TYPE', () => {
    const r = new Registry();
    const c = r.counter({ name: 'heraldlb_allocations_total', help: 'IPs assigned.', labelNames: ['pool'] });
    const g = r.gauge({
      name: 'heraldlb_pool_available',
      help: 'Free IPs.\nPer pool \\ family.',
      labelNames: ['pool', 'family'],
    });
    c.inc({ pool: 'lan' });
    c.inc({ pool: 'lan' }, 2);
    c.inc({ pool: 'weird"pool\\\nname' });
    g.set({ pool: 'lan', family: 'IPv4' }, 18);
    g.dec({ pool: 'lan', family: 'IPv4' });
    const { families, samples } = parse(r.render());
    expect(families.get('heraldlb_allocations_total')).toEqual({ help: 'IPs assigned.', type: 'counter' });
    expect(families.get('heraldlb_pool_available')).toEqual({
      help: 'Free IPs.\nPer pool \\ family.',
      type: 'gauge',
    });
    expect(samples).toContainEqual({ name: 'heraldlb_allocations_total', labels: { pool: 'lan' }, value: 3 });
    expect(samples).toContainEqual({
      name: 'heraldlb_allocations_total',
      labels: { pool: 'weird"pool\\\nname' },
      value: 1,
    });
    expect(samples).toContainEqual({
      name: 'heraldlb_pool_available',
      labels: { pool: 'lan', family: 'IPv4' },
      value: 17,
    });
  });

  it('renders cumulative histogram buckets, +Inf, sum and count', () => {
    const r = new Registry();
    const h = r.histogram({
      name: 'reconcile_seconds',
      help: 'Reconcile time.',
      labelNames: ['kind'],
      buckets: [0.1, 1],
    });
    for (const v of [0.05, 0.5, 0.7, 3]) h.observe({ kind: 'svc' }, v);
    const { families, samples } = parse(r.render());
    expect(families.get('reconcile_seconds')?.type).toBe('histogram');
    const b = samples.filter((s) => s.name === 'reconcile_seconds_bucket').map((s) => [s.labels.le, s.value]);
    expect(b).toEqual([
      ['0.1', 1],
      ['1', 3],
      ['+Inf', 4],
    ]);
    expect(samples.find((s) => s.name === 'reconcile_seconds_sum')?.value).toBeCloseTo(4.25);
    expect(samples.find((s) => s.name === 'reconcile_seconds_count')?.value).toBe(4);
  });

  it('unlabelled metrics, removal of series, and misuse errors', () => {
    const r = new Registry();
    const g = r.gauge({ name: 'up', help: 'Up.' });
    g.set(undefined, 1);
    const c = r.counter({ name: 'x_total', help: 'x', labelNames: ['a'] });
    c.inc({ a: '1' });
    c.remove({ a: '1' });
    expect(r.render()).toBe(
      '# HELP up Up.\n# TYPE up gauge\nup 1\n# HELP x_total x\n# TYPE x_total counter\n',
    );
    expect(() => c.inc({ a: '1' }, -1)).toThrow(/only go up/);
    expect(() => c.inc({})).toThrow(/missing label/);
    expect(() => c.inc({ a: '1', b: '2' })).toThrow(/unknown label/);
    expect(() => r.gauge({ name: 'up', help: 'again' })).toThrow(/twice/);
    expect(() => r.gauge({ name: 'bad-name', help: '' })).toThrow(/invalid metric name/);
    expect(() => r.histogram({ name: 'h', help: '', labelNames: ['le'] })).toThrow(/invalid label/);
  });
});

describe('HealthServer', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('serves /metrics, /healthz and /readyz from the readiness callback', async () => {
    const registry = new Registry();
    registry.gauge({ name: 'up', help: 'Up.' }).set(undefined, 1);
    let ready: boolean | string = 'informers not synced';
    const s = new HealthServer({ port: 0, host: '127.0.0.1', registry, ready: () => ready });
    const ctl = new AbortController();
    const port = await s.start(ctl.signal);
    stop = () => s.stop();
    const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toBe(CONTENT_TYPE);
    expect(await m.text()).toContain('up 1');
    expect((await get('/healthz')).status).toBe(200);
    const r1 = await get('/readyz');
    expect(r1.status).toBe(503);
    expect(await r1.text()).toContain('informers not synced');
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
    ctl.abort();
    await s.stop();
    await expect(get('/healthz')).rejects.toThrow();
  });
});

describe('process metrics', () => {
  it('reads memory at each scrape, under the usual Node.js client names', () => {
    const registry = new Registry();
    let rss = 100;
    registerProcessMetrics(registry, () => ({ rss, heapTotal: 50, heapUsed: 20, external: 3 }));
    expect(registry.render()).toMatch(/^process_resident_memory_bytes 100$/m);
    rss = 200;
    const text = registry.render();
    expect(text).toMatch(/^process_resident_memory_bytes 200$/m);
    expect(text).toMatch(/^nodejs_heap_size_total_bytes 50$/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes 20$/m);
    expect(text).toMatch(/^nodejs_external_memory_bytes 3$/m);
  });
});
