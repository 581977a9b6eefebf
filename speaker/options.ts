/**
 * Speaker flags and environment -> Options. Pure: main.ts passes argv and env in. The same
 * conventions as the controller (kube/flags.ts): every flag has an environment twin, flags win,
 * a bad value exits 2 naming the flag.
 */
import {
  checkLogLevel,
  type FlagSpec,
  helpText as helpTextOf,
  parseFlags,
  UsageError,
} from '../kube/flags.js';
import { DEFAULT_GARP_OFFSETS_MS, GarpScheduleError, parseGarpOffsets } from './garp-schedule.js';

export interface Options {
  kubeconfig: string | undefined;
  nodeName: string;
  namespace: string;
  loadBalancerClass: string | undefined;
  keyFile: string;
  heartbeatPort: number;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
  holdDownMs: number;
  /** Offsets (ms) of the gratuitous ARP / unsolicited NA bursts after a takeover. */
  garpOffsetsMs: number[];
  selfProbeIntervalMs: number;
  conflictProbe: boolean;
  presenceLeaseDurationMs: number;
  metricsAddr: string;
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
    name: 'node-name',
    env: 'NODE_NAME',
    help: 'the Node this speaker runs on (the chart passes spec.nodeName)',
    kind: 'string',
    def: '',
  },
  {
    name: 'namespace',
    env: 'POD_NAMESPACE',
    help: 'namespace of the speakers\u2019 presence Leases',
    kind: 'string',
    def: 'heraldlb-system',
  },
  {
    name: 'load-balancer-class',
    env: 'HERALDLB_LOAD_BALANCER_CLASS',
    help: 'announce exactly Services of this spec.loadBalancerClass (as the controller); empty = no class',
    kind: 'string',
    def: '',
  },
  {
    name: 'key-file',
    env: 'HERALDLB_KEY_FILE',
    help: 'heartbeat keys, one "<id>:<base64>" per line, the first signs (a mounted Secret)',
    kind: 'string',
    def: '/etc/heraldlb/heartbeat/keys',
  },
  {
    name: 'heartbeat-port',
    env: 'HERALDLB_HEARTBEAT_PORT',
    help: 'UDP port of speaker heartbeats on every node',
    kind: 'int',
    def: '7947',
    range: [1, 65535],
  },
  {
    name: 'heartbeat-interval',
    env: 'HERALDLB_HEARTBEAT_INTERVAL',
    help: 'how often each speaker tells every peer it lives',
    kind: 'duration',
    def: '100ms',
    range: [20, 5000],
  },
  {
    name: 'dead-after',
    env: 'HERALDLB_DEAD_AFTER',
    help: 'silence after which a peer counts as dead (> 3 heartbeat intervals)',
    kind: 'duration',
    def: '450ms',
    range: [100, 60_000],
  },
  {
    name: 'hold-down',
    env: 'HERALDLB_HOLD_DOWN',
    help: 'how long a returning node must be heard before it wins IPs back',
    kind: 'duration',
    def: '3s',
    range: [0, 600_000],
  },
  {
    name: 'garp-schedule',
    env: 'HERALDLB_GARP_SCHEDULE',
    help: 'offsets (ms) of the gratuitous ARP / unsolicited NA bursts after a takeover',
    kind: 'string',
    def: DEFAULT_GARP_OFFSETS_MS.join(','),
  },
  {
    name: 'self-probe-interval',
    env: 'HERALDLB_SELF_PROBE_INTERVAL',
    help: 'how often an owner asks the LAN who else answers for its IPs (split brain)',
    kind: 'duration',
    def: '2s',
    range: [200, 600_000],
  },
  {
    name: 'conflict-probe',
    env: 'HERALDLB_CONFLICT_PROBE',
    help: 'probe the LAN (RFC 5227) before first announcing an IP; a foreign answer is an IPConflict',
    kind: 'bool',
    def: 'true',
  },
  {
    name: 'presence-lease-duration',
    env: 'HERALDLB_PRESENCE_LEASE_DURATION',
    help: 'the presence Lease each speaker renews: the slow, authoritative liveness backstop',
    kind: 'duration',
    def: '15s',
    range: [3000, 3_600_000],
  },
  {
    name: 'metrics-addr',
    env: 'HERALDLB_METRICS_ADDR',
    help: 'host:port for /metrics, /healthz, /readyz; empty disables',
    kind: 'string',
    def: '0.0.0.0:7473',
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

function garpOffsets(text: string): number[] {
  try {
    return parseGarpOffsets(text);
  } catch (err) {
    if (err instanceof GarpScheduleError) throw new UsageError(`--garp-schedule: ${err.message}`);
    throw err;
  }
}

export function helpText(): string {
  return helpTextOf('heraldlb-speaker', FLAGS);
}

/** Returns 'help' when --help was asked for; throws UsageError on a bad flag. */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Options | 'help' {
  const get = parseFlags(FLAGS, argv, env);
  if (get === 'help') return 'help';
  checkLogLevel(get('log-level') as string);
  const nodeName = get('node-name') as string;
  if (!nodeName)
    throw new UsageError('--node-name is required (or NODE_NAME): the Node this speaker runs on');
  if (!(get('key-file') as string)) throw new UsageError('--key-file: a heartbeat key file is required');
  const intervalMs = get('heartbeat-interval') as number;
  const deadAfterMs = get('dead-after') as number;
  if (deadAfterMs < 3 * intervalMs)
    throw new UsageError(
      `--dead-after: must be at least 3 heartbeat intervals (${3 * intervalMs} ms), got ${deadAfterMs} ms`,
    );
  return {
    kubeconfig: (get('kubeconfig') as string) || undefined,
    nodeName,
    namespace: get('namespace') as string,
    loadBalancerClass: (get('load-balancer-class') as string) || undefined,
    keyFile: get('key-file') as string,
    heartbeatPort: get('heartbeat-port') as number,
    heartbeatIntervalMs: intervalMs,
    deadAfterMs,
    holdDownMs: get('hold-down') as number,
    garpOffsetsMs: garpOffsets(get('garp-schedule') as string),
    selfProbeIntervalMs: get('self-probe-interval') as number,
    conflictProbe: get('conflict-probe') as boolean,
    presenceLeaseDurationMs: get('presence-lease-duration') as number,
    metricsAddr: get('metrics-addr') as string,
    logLevel: get('log-level') as string,
  };
}
