/** The controller's Prometheus series, and the Observer the reconciler reports into. */
import { Registry } from '../kube/metrics.js';
import { registerProcessMetrics } from '../kube/process-metrics.js';
import type { Observer } from './reconciler.js';

export function controllerMetrics() {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const m = {
    registry,
    poolSize: registry.gauge({
      name: 'heraldlb_pool_addresses',
      help: 'Addresses a pool can hand out, per family.',
      labelNames: ['pool', 'family'],
    }),
    poolInUse: registry.gauge({
      name: 'heraldlb_pool_addresses_in_use',
      help: 'Addresses of a pool held by Services, per family.',
      labelNames: ['pool', 'family'],
    }),
    poolAvailable: registry.gauge({
      name: 'heraldlb_pool_addresses_available',
      help: 'Addresses of a pool still free, per family.',
      labelNames: ['pool', 'family'],
    }),
    failures: registry.counter({
      name: 'heraldlb_allocation_failures_total',
      help: 'Allocation failures reported to a Service, by reason.',
      labelNames: ['reason'],
    }),
    eventsDropped: registry.counter({
      name: 'heraldlb_events_dropped_total',
      help: 'Events not written: over the Normal Event rate (--event-qps), or too many writes pending.',
      labelNames: ['type', 'why'],
    }),
    outOfPoolCount: registry.gauge({
      name: 'heraldlb_services_out_of_pool',
      help: 'Services holding an IP that no pool covers any more (kept, never moved).',
    }),
    outOfPool: registry.gauge({
      name: 'heraldlb_service_out_of_pool',
      help: '1 for each Service holding an IP that no pool covers any more.',
      labelNames: ['service'],
    }),
    reconcile: registry.histogram({
      name: 'heraldlb_reconcile_duration_seconds',
      help: 'Time to reconcile one queue key, by kind (svc, pool, pools).',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    reconcileErrors: registry.counter({
      name: 'heraldlb_reconcile_errors_total',
      help: 'Reconciles that failed and were retried with backoff, by kind.',
      labelNames: ['kind'],
    }),
    leader: registry.gauge({ name: 'heraldlb_leader', help: '1 while this replica is the elected leader.' }),
  };
  m.outOfPoolCount.set(undefined, 0);
  m.leader.set(undefined, 0);
  return m;
}

export type ControllerMetrics = ReturnType<typeof controllerMetrics>;

export function metricsObserver(m: ControllerMetrics): Observer {
  let listed: string[] = [];
  return {
    allocationFailed: (reason) => m.failures.inc({ reason }),
    poolStats(pool, family, size, inUse, available) {
      // Gauges are floats: a /64's size is exact to 53 bits, which is all a dashboard needs.
      m.poolSize.set({ pool, family }, Number(size));
      m.poolInUse.set({ pool, family }, Number(inUse));
      m.poolAvailable.set({ pool, family }, Number(available));
    },
    poolGone(pool) {
      for (const family of ['IPv4', 'IPv6']) {
        for (const g of [m.poolSize, m.poolInUse, m.poolAvailable]) g.remove({ pool, family });
      }
    },
    outOfPool(keys) {
      for (const k of listed) m.outOfPool.remove({ service: k });
      for (const k of keys) m.outOfPool.set({ service: k }, 1);
      listed = [...keys];
      m.outOfPoolCount.set(undefined, keys.length);
    },
  };
}
