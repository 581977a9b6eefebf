// The process's own memory as Prometheus gauges, read at scrape time, under the names
// Prometheus' Node.js clients use, so existing dashboards and alerts work. RSS is what a
// container limit counts; the heap figures tell live data from V8's reserve.
import type { Registry } from './metrics.js';

type MemoryUsage = () => Pick<NodeJS.MemoryUsage, 'rss' | 'heapTotal' | 'heapUsed' | 'external'>;

export function registerProcessMetrics(registry: Registry, usage: MemoryUsage = process.memoryUsage): void {
  const gauge = (name: string, help: string) => registry.gauge({ name, help });
  const rss = gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const heapTotal = gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved, in bytes.');
  const heapUsed = gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.');
  const external = gauge(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript, in bytes.',
  );
  registry.onCollect(() => {
    const m = usage();
    rss.set(undefined, m.rss);
    heapTotal.set(undefined, m.heapTotal);
    heapUsed.set(undefined, m.heapUsed);
    external.set(undefined, m.external);
  });
}
