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
    // A count, not a series per Service: deleting a pool under thousands of Services must not
    // make thousands of series. Which Services they are: their IPRetained Events.
    outOfPoolCount: registry.gauge({
      name: 'heraldlb_services_out_of_pool',
      help: 'Services holding an IP that no pool (or not their requested pool) covers any more (kept, never moved).',
    }),
    pending: registry.gauge({
      name: 'heraldlb_services_pending',
      help: 'Services of type LoadBalancer handled by heraldlb that wait for an IP (see their AllocationFailed Events).',
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
    conflicts: registry.counter({
      name: 'heraldlb_write_conflicts_total',
      help: 'Writes refused because the object changed since the decision (409); decided again on the newer one.',
      labelNames: ['kind'],
    }),
    leader: registry.gauge({
      name: 'heraldlb_leader',
      help: '1 while this replica leads and its term handles events (caches caught up, assignments loaded).',
    }),
  };
  m.outOfPoolCount.set(undefined, 0);
  m.pending.set(undefined, 0);
  m.leader.set(undefined, 0);
  return m;
}

export type ControllerMetrics = ReturnType<typeof controllerMetrics>;

export function metricsObserver(m: ControllerMetrics): Observer {
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
    outOfPool: (count) => m.outOfPoolCount.set(undefined, count),
    pending: (count) => m.pending.set(undefined, count),
  };
}
