import { describe, expect, it } from 'vitest';
import { helpText, parseOptions, UsageError } from '../../controller/options.js';

describe('controller options', () => {
  it('has documented defaults', () => {
    const o = parseOptions([], {});
    expect(o).toMatchObject({
      kubeconfig: undefined,
      loadBalancerClass: undefined,
      leaderElect: true,
      leaseNamespace: 'heraldlb-system',
      leaseName: 'heraldlb-controller',
      metricsAddr: '0.0.0.0:7472',
      resyncSchedule: '*/5 * * * *',
      workers: 8,
      eventQps: 50,
      eventBurst: 100,
      logLevel: 'info',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
  });

  it.each([
    [['--load-balancer-class', 'example.com/lb'], {}, { loadBalancerClass: 'example.com/lb' }],
    [['--load-balancer-class=example.com/lb'], {}, { loadBalancerClass: 'example.com/lb' }],
    [['--leader-elect=false'], {}, { leaderElect: false }],
    [['--leader-elect'], { HERALDLB_LEADER_ELECT: 'false' }, { leaderElect: true }],
    [[], { HERALDLB_LEADER_ELECT: 'false', HERALDLB_WORKERS: '3' }, { leaderElect: false, workers: 3 }],
    [['--workers', '2'], { HERALDLB_WORKERS: '3' }, { workers: 2 }],
    [[], { KUBECONFIG: '/k' }, { kubeconfig: '/k' }],
    [['--metrics-addr='], {}, { metricsAddr: '' }],
    [['--identity', 'a'], {}, { identity: 'a' }],
    [['--event-qps=0'], { HERALDLB_EVENT_BURST: '7' }, { eventQps: 0, eventBurst: 7 }],
    [
      ['--leader-elect-lease-duration=3s', '--leader-elect-renew-deadline=2.5s'],
      { HERALDLB_LEADER_ELECT_RETRY_PERIOD: '250ms' },
      { leaseDurationMs: 3000, renewDeadlineMs: 2500, retryPeriodMs: 250 },
    ],
  ] as const)('%j with env %j', (argv, env, want) => {
    expect(parseOptions(argv, env)).toMatchObject(want);
  });

  it.each([
    [['--nope'], /unknown argument "--nope"/],
    [['stray'], /unknown argument "stray"/],
    [['--workers', '0'], /--workers: expected 1..256/],
    [['--leader-elect-lease-duration=15'], /--leader-elect-lease-duration: expected a duration/],
    [['--leader-elect-retry-period=20ms'], /--leader-elect-retry-period: expected a duration from 100ms/],
    [['--leader-elect-renew-deadline=20s'], /need retry period < renew deadline < lease duration/],
    [['--workers', 'x'], /--workers/],
    [['--event-qps', '-1'], /--event-qps: expected 0..100000/],
    [['--event-burst', '0'], /--event-burst: expected 1..100000/],
    [['--leader-elect=maybe'], /--leader-elect: expected true or false/],
    [['--lease-name'], /--lease-name needs a value/],
    [['--resync-schedule', 'every minute'], /--resync-schedule: .* is not a cron expression/],
    [['--log-level', 'loud'], /--log-level: expected one of/],
  ] as const)('rejects %j naming the flag', (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(UsageError);
    expect(() => parseOptions(argv, {})).toThrow(message);
  });

  it('asks for help, and the help names every flag with its environment variable', () => {
    expect(parseOptions(['--workers', '2', '--help'], {})).toBe('help');
    const text = helpText();
    for (const flag of [
      'kubeconfig',
      'load-balancer-class',
      'leader-elect',
      'metrics-addr',
      'resync-schedule',
    ]) {
      expect(text).toContain(`--${flag}`);
    }
    expect(text).toContain('HERALDLB_LOAD_BALANCER_CLASS');
  });
});
