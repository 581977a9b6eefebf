/**
 * Controller flags and environment -> Options. Pure: main.ts passes argv and env in.
 * Every flag has an environment twin (HERALDLB_ + upper snake case), flags win.
 */
import { hostname } from 'node:os';
import cron from 'node-cron';
import {
  checkLogLevel,
  type FlagSpec,
  helpText as helpTextOf,
  parseFlags,
  UsageError,
} from '../kube/flags.js';

export interface Options {
  kubeconfig: string | undefined;
  loadBalancerClass: string | undefined;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  /** Election timings (ms), as kube-controller-manager's --leader-elect-* flags. */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity: string;
  metricsAddr: string;
  resyncSchedule: string;
  workers: number;
  eventQps: number;
  eventBurst: number;
  logLevel: string;
}

const FLAGS: FlagSpec[] = [
  {
    name: 'kubeconfig',
    env: 'KUBECONFIG',
    help: 'kubeconfig path; in-cluster config when empty',
    kind: 'string',
    def: '',
  },
  {
    name: 'load-balancer-class',
    env: 'HERALDLB_LOAD_BALANCER_CLASS',
    help: 'handle exactly Services of this spec.loadBalancerClass; empty = Services with no class',
    kind: 'string',
    def: '',
  },
  {
    name: 'leader-elect',
    env: 'HERALDLB_LEADER_ELECT',
    help: 'elect one active replica via a Lease',
    kind: 'bool',
    def: 'true',
  },
  {
    name: 'lease-namespace',
    env: 'HERALDLB_LEASE_NAMESPACE',
    help: 'namespace of the Lease',
    kind: 'string',
    def: 'heraldlb-system',
  },
  {
    name: 'lease-name',
    env: 'HERALDLB_LEASE_NAME',
    help: 'name of the Lease',
    kind: 'string',
    def: 'heraldlb-controller',
  },
  {
    name: 'leader-elect-lease-duration',
    env: 'HERALDLB_LEADER_ELECT_LEASE_DURATION',
    help: 'how long a standby waits, seeing the Lease unchanged, before it takes over',
    kind: 'duration',
    def: '15s',
  },
  {
    name: 'leader-elect-renew-deadline',
    env: 'HERALDLB_LEADER_ELECT_RENEW_DEADLINE',
    help: 'how long the leader keeps trying to renew before it steps down (< lease duration)',
    kind: 'duration',
    def: '10s',
  },
  {
    name: 'leader-elect-retry-period',
    env: 'HERALDLB_LEADER_ELECT_RETRY_PERIOD',
    help: 'how often the Lease is renewed or tried (< renew deadline)',
    kind: 'duration',
    def: '2s',
  },
  {
    name: 'identity',
    env: 'HERALDLB_IDENTITY',
    help: 'this replica in the Lease; default hostname_pid',
    kind: 'string',
    def: '',
  },
  {
    name: 'metrics-addr',
    env: 'HERALDLB_METRICS_ADDR',
    help: 'host:port for /metrics, /healthz, /readyz; empty disables',
    kind: 'string',
    def: '0.0.0.0:7472',
  },
  {
    name: 'resync-schedule',
    env: 'HERALDLB_RESYNC_SCHEDULE',
    help: 'cron expression of the full resync safety net',
    kind: 'string',
    def: '*/5 * * * *',
  },
  {
    name: 'workers',
    env: 'HERALDLB_WORKERS',
    help: 'concurrent reconciles (API writes)',
    kind: 'int',
    def: '8',
  },
  {
    name: 'event-qps',
    env: 'HERALDLB_EVENT_QPS',
    help: 'Normal Events per second at most (Warnings are never limited); 0 = no limit',
    kind: 'int',
    def: '50',
    range: [0, 100_000],
  },
  {
    name: 'event-burst',
    env: 'HERALDLB_EVENT_BURST',
    help: 'Normal Events allowed at once above --event-qps',
    kind: 'int',
    def: '100',
    range: [1, 100_000],
  },
  {
    name: 'log-level',
    env: 'HERALDLB_LOG_LEVEL',
    help: 'trace|debug|info|warn|error',
    kind: 'string',
    def: 'info',
  },
];

export { UsageError };

export function helpText(): string {
  return helpTextOf('heraldlb-controller', FLAGS);
}

/** Returns 'help' when --help was asked for; throws UsageError on a bad flag. */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Options | 'help' {
  const get = parseFlags(FLAGS, argv, env);
  if (get === 'help') return 'help';
  checkLogLevel(get('log-level') as string);
  if (!cron.validate(get('resync-schedule') as string)) {
    throw new UsageError(`--resync-schedule: "${get('resync-schedule')}" is not a cron expression`);
  }
  const [leaseDurationMs, renewDeadlineMs, retryPeriodMs] = [
    'leader-elect-lease-duration',
    'leader-elect-renew-deadline',
    'leader-elect-retry-period',
  ].map((n) => get(n) as number) as [number, number, number];
  if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new UsageError(
      '--leader-elect-*: need retry period < renew deadline < lease duration ' +
        `(got ${retryPeriodMs} ms, ${renewDeadlineMs} ms, ${leaseDurationMs} ms)`,
    );
  }
  return {
    kubeconfig: (get('kubeconfig') as string) || undefined,
    loadBalancerClass: (get('load-balancer-class') as string) || undefined,
    leaderElect: get('leader-elect') as boolean,
    leaseNamespace: get('lease-namespace') as string,
    leaseName: get('lease-name') as string,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    identity: (get('identity') as string) || `${hostname()}_${process.pid}`,
    metricsAddr: get('metrics-addr') as string,
    resyncSchedule: get('resync-schedule') as string,
    workers: get('workers') as number,
    eventQps: get('event-qps') as number,
    eventBurst: get('event-burst') as number,
    logLevel: get('log-level') as string,
  };
}
