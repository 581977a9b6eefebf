import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  V1ConfigMap,
  V1CustomResourceDefinition,
  V1DaemonSet,
  V1Deployment,
  V1PodSpec,
  V1Secret,
} from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseOptions as controllerOptions } from '../../controller/options.js';
import { SPEAKER_NODE_OPTIONS } from '../../image/programs.js';
import { renderedControllerRbac, renderedSpeakerRbac } from '../../lab/chart-rbac.js';
import { readCrdFiles } from '../../lab/gen-chart-crds.js';
import { parseOptions as speakerOptions } from '../../speaker/options.js';
import { CHART_DIR, find, Helm, parseObjects, type RenderedObject } from '../support/helm.js';

// `helm lint --strict` and `helm template` over the values combinations a user is likely to
// set, with what each must render; a misspelt value must fail and name the key.
const helm = Helm.forTests('chart');
const NS = 'lb-system';
const ROOT = join(CHART_DIR, '..', '..');

const as = <T>(o: RenderedObject): T => o as unknown as T;
const deployment = (objs: RenderedObject[]) =>
  as<V1Deployment>(find(objs, 'Deployment', 'heraldlb-controller'));
const daemonSet = (objs: RenderedObject[]) => as<V1DaemonSet>(find(objs, 'DaemonSet', 'heraldlb-speaker'));
const podSpec = (o: V1Deployment | V1DaemonSet): V1PodSpec => o.spec!.template.spec!;
const kinds = (objs: RenderedObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();

interface Case {
  name: string;
  args: string[];
  check: (objs: RenderedObject[]) => void;
}

const MONITORING_ON = [
  '--set=monitoring.podMonitor.enabled=true',
  '--set=monitoring.serviceMonitor.enabled=true',
  '--set=monitoring.prometheusRule.enabled=true',
  '--set=monitoring.grafanaDashboard.enabled=true',
  '--set=monitoring.prometheusRule.labels.release=prom',
];
// Every CRD of crds/ (the drift test proves the chart's copies match them).
const CRD_NAMES = [...readCrdFiles(join(ROOT, 'crds')).values()].map(
  (t) => (parse(t) as V1CustomResourceDefinition).metadata!.name!,
);
const DIGEST = `sha256:${'ab'.repeat(32)}`;

const CASES: Case[] = [
  {
    name: 'defaults',
    args: [],
    check(objs) {
      expect(kinds(objs)).toEqual(
        [
          'ClusterRole/heraldlb-controller',
          'ClusterRole/heraldlb-speaker',
          'ClusterRoleBinding/heraldlb-controller',
          'ClusterRoleBinding/heraldlb-speaker',
          ...CRD_NAMES.map((n) => `CustomResourceDefinition/${n}`),
          'DaemonSet/heraldlb-speaker',
          'Deployment/heraldlb-controller',
          'PodDisruptionBudget/heraldlb-controller',
          'Role/heraldlb-controller-leader-election',
          'Role/heraldlb-speaker-presence',
          'RoleBinding/heraldlb-controller-leader-election',
          'RoleBinding/heraldlb-speaker-presence',
          'Secret/heraldlb-heartbeat',
          'ServiceAccount/heraldlb-controller',
          'ServiceAccount/heraldlb-speaker',
        ].sort(),
      );
      for (const o of objs.filter(
        (x) => !x.kind.startsWith('Cluster') && x.kind !== 'CustomResourceDefinition',
      )) {
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NS);
      }
      const d = deployment(objs);
      expect(d.spec?.replicas).toBe(2);
      const c = podSpec(d).containers[0]!;
      expect(c.image).toBe('localhost/heraldlb:0.1.0');
      expect(c.args).toEqual([
        'controller',
        '--metrics-addr=0.0.0.0:7472',
        '--leader-elect=true',
        `--lease-namespace=${NS}`,
        '--leader-elect-lease-duration=15s',
        '--leader-elect-renew-deadline=10s',
        '--leader-elect-retry-period=2s',
        '--log-level=info',
      ]);
      expect(c.ports).toEqual([{ name: 'metrics', containerPort: 7472, protocol: 'TCP' }]);
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(c.resources?.limits).toEqual({ memory: '256Mi' });
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(podSpec(d).securityContext?.runAsNonRoot).toBe(true);
      expect(podSpec(d).serviceAccountName).toBe('heraldlb-controller');
      expect(podSpec(d).topologySpreadConstraints).toEqual([
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: d.spec?.selector.matchLabels },
        },
      ]);
      expect(d.spec?.selector.matchLabels).toEqual({
        'app.kubernetes.io/name': 'heraldlb',
        'app.kubernetes.io/instance': 'heraldlb',
        'app.kubernetes.io/component': 'controller',
      });

      const ds = daemonSet(objs);
      const p = podSpec(ds);
      expect(p.hostNetwork).toBe(true);
      expect(p.dnsPolicy).toBe('ClusterFirstWithHostNet');
      expect(p.serviceAccountName).toBe('heraldlb-speaker');
      expect(p.tolerations?.map((t) => t.key)).toEqual([
        'node-role.kubernetes.io/control-plane',
        'node-role.kubernetes.io/master',
      ]);
      const s = p.containers[0]!;
      expect(s.args).toEqual([
        'speaker',
        '--node-name=$(NODE_NAME)',
        '--key-file=/etc/heraldlb/heartbeat/keys',
        '--metrics-addr=0.0.0.0:7473',
        '--heartbeat-port=7947',
        '--log-level=info',
      ]);
      expect(s.env).toEqual([
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        // The chart spells out what image/programs.ts says the speaker's V8 needs.
        { name: 'NODE_OPTIONS', value: SPEAKER_NODE_OPTIONS },
      ]);
      expect(s.securityContext).toEqual({
        runAsUser: 0,
        runAsGroup: 0,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'], add: ['NET_RAW'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(s.volumeMounts).toEqual([
        { name: 'heartbeat-keys', mountPath: '/etc/heraldlb/heartbeat', readOnly: true },
      ]);
      expect(p.volumes?.[0]?.secret?.secretName).toBe('heraldlb-heartbeat');
      expect(s.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(s.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });

      const keys = Buffer.from(
        as<V1Secret>(find(objs, 'Secret', 'heraldlb-heartbeat')).data!.keys!,
        'base64',
      );
      const m = /^k1:([A-Za-z0-9+/]+={0,2})\n$/.exec(keys.toString());
      expect(m, keys.toString()).not.toBeNull();
      expect(Buffer.from(m![1]!, 'base64').length).toBe(32);
    },
  },
  {
    name: 'monitoring on',
    args: MONITORING_ON,
    check(objs) {
      expect(kinds(objs)).toEqual(
        expect.arrayContaining([
          'ConfigMap/heraldlb-dashboard',
          'PodMonitor/heraldlb',
          'PrometheusRule/heraldlb',
          'Service/heraldlb-controller-metrics',
          'Service/heraldlb-speaker-metrics',
          'ServiceMonitor/heraldlb',
        ]),
      );
      const rule = find(objs, 'PrometheusRule', 'heraldlb');
      expect(rule.metadata.labels?.release).toBe('prom');
      // Exactly the file promtool checks and unit-tests.
      const file = parse(readFileSync(join(CHART_DIR, 'files', 'prometheus-rules.yaml'), 'utf8'));
      expect(rule.spec).toEqual(file);
      const dash = as<V1ConfigMap>(find(objs, 'ConfigMap', 'heraldlb-dashboard'));
      expect(dash.metadata?.labels?.grafana_dashboard).toBe('1');
      expect(JSON.parse(dash.data!['heraldlb.json']!)).toEqual(
        JSON.parse(readFileSync(join(CHART_DIR, 'files', 'grafana-dashboard.json'), 'utf8')),
      );
      const svc = find(objs, 'Service', 'heraldlb-speaker-metrics') as RenderedObject & {
        spec: { selector: Record<string, string>; ports: { port: number }[] };
      };
      expect(svc.spec.selector['app.kubernetes.io/component']).toBe('speaker');
      expect(svc.spec.ports[0]?.port).toBe(7473);
    },
  },
  {
    name: 'CRDs disabled',
    args: ['--set=crds.enabled=false'],
    check(objs) {
      expect(objs.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    },
  },
  {
    name: 'image by digest, pull policy, pull secret',
    args: [
      '--set=image.repository=registry.example/lb',
      `--set=image.digest=${DIGEST}`,
      '--set=image.tag=ignored',
      '--set=image.pullPolicy=Always',
      '--set=imagePullSecrets[0].name=regcred',
    ],
    check(objs) {
      for (const w of [deployment(objs), daemonSet(objs)]) {
        expect(podSpec(w).containers[0]?.image).toBe(`registry.example/lb@${DIGEST}`);
        expect(podSpec(w).containers[0]?.imagePullPolicy).toBe('Always');
        expect(podSpec(w).imagePullSecrets).toEqual([{ name: 'regcred' }]);
      }
    },
  },
  {
    name: 'extra args and env, class, placement, annotations',
    args: [
      '--set=controller.extraArgs={--workers=4,--event-qps=10}',
      '--set=controller.extraEnv[0].name=NODE_OPTIONS',
      '--set=controller.extraEnv[0].value=--max-semi-space-size=1',
      '--set=loadBalancerClass=example.com/lan',
      '--set=controller.replicas=1',
      '--set=controller.priorityClassName=system-cluster-critical',
      '--set=controller.podAnnotations.a=b',
      '--set=speaker.extraArgs={--dead-after=600ms}',
      '--set=speaker.logLevel=debug',
      '--set=speaker.priorityClassName=system-node-critical',
      '--set=speaker.tolerations=null',
      '--set=speaker.nodeSelector.lan=yes',
      '--set=speaker.heartbeat.existingSecret=my-keys',
    ],
    check(objs) {
      const c = podSpec(deployment(objs));
      expect(c.containers[0]?.args?.slice(-4)).toEqual([
        '--load-balancer-class=example.com/lan',
        '--log-level=info',
        '--workers=4',
        '--event-qps=10',
      ]);
      expect(c.containers[0]?.env).toEqual([{ name: 'NODE_OPTIONS', value: '--max-semi-space-size=1' }]);
      expect(c.priorityClassName).toBe('system-cluster-critical');
      expect(deployment(objs).spec?.template.metadata?.annotations).toEqual({ a: 'b' });
      // One replica: a budget of "one unavailable" would block nothing and mislead.
      expect(objs.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
      const s = podSpec(daemonSet(objs));
      expect(s.containers[0]?.args?.slice(-3)).toEqual([
        '--load-balancer-class=example.com/lan',
        '--log-level=debug',
        '--dead-after=600ms',
      ]);
      expect(s.priorityClassName).toBe('system-node-critical');
      expect(s.tolerations).toBeUndefined();
      expect(s.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', lan: 'yes' });
      // The user's Secret is mounted; the chart makes none.
      expect(s.volumes?.[0]?.secret?.secretName).toBe('my-keys');
      expect(objs.some((o) => o.kind === 'Secret')).toBe(false);
    },
  },
  {
    name: 'no topology spread, leader election off',
    args: [
      '--set-json=controller.topologySpreadConstraints=[]',
      '--set=controller.leaderElection.enabled=false',
    ],
    check(objs) {
      expect(podSpec(deployment(objs)).topologySpreadConstraints).toBeUndefined();
      expect(podSpec(deployment(objs)).containers[0]?.args).toContain('--leader-elect=false');
    },
  },
];

describe.runIf(helm)('chart: helm lint --strict and helm template', () => {
  afterAll(() => helm!.dispose());

  it.each(CASES)('$name', ({ args, check }) => {
    const lint = helm!.run(['lint', '--strict', CHART_DIR, '--namespace', NS, ...args]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    check(helm!.template(args, NS));
  });

  it.each([
    ['controller.replica=3', 'replica'],
    ['imag.tag=x', 'imag'],
    ['monitoring.podMonitor.enable=true', 'enable'],
    ['speaker.tolerations[0].efect=NoSchedule', 'efect'],
  ])('a misspelt value (%s) is refused, naming the key', (set, key) => {
    const r = helm!.run(['template', 'heraldlb', CHART_DIR, `--set=${set}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`additional propert(y|ies) '${key}' not allowed`));
  });

  it.each([
    ['image.digest=latest', 'digest'],
    ['controller.extraArgs={workers=4}', 'extraArgs'],
    ['controller.logLevel=verbose', 'logLevel'],
  ])('a malformed value (%s) is refused, naming the key', (set, key) => {
    const r = helm!.run(['template', 'heraldlb', CHART_DIR, `--set=${set}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(key);
  });

  it('passes flags the programs accept, meaning what the chart means', () => {
    const objs = helm!.template(
      ['--set=loadBalancerClass=example.com/lan', '--set=controller.logLevel=debug'],
      NS,
    );
    const [ctlCmd, ...ctlArgs] = podSpec(deployment(objs)).containers[0]!.args!;
    expect(ctlCmd).toBe('controller');
    expect(controllerOptions(ctlArgs, {})).toMatchObject({
      leaderElect: true,
      leaseNamespace: NS,
      leaseName: 'heraldlb-controller',
      metricsAddr: '0.0.0.0:7472',
      loadBalancerClass: 'example.com/lan',
      logLevel: 'debug',
    });
    const speaker = podSpec(daemonSet(objs)).containers[0]!;
    const [spkCmd, ...spkArgs] = speaker.args!;
    expect(spkCmd).toBe('speaker');
    // The kubelet expands $(NODE_NAME) from the env the chart sets; POD_NAMESPACE is read as is.
    const expanded = spkArgs.map((a) => a.replace('$(NODE_NAME)', 'node1'));
    expect(speakerOptions(expanded, { POD_NAMESPACE: NS })).toMatchObject({
      nodeName: 'node1',
      namespace: NS,
      keyFile: `${speaker.volumeMounts![0]!.mountPath}/keys`,
      heartbeatPort: 7947,
      metricsAddr: '0.0.0.0:7473',
      loadBalancerClass: 'example.com/lan',
    });
  });

  it('renders the RBAC exactly as lab/chart-rbac.ts does for the tests and the benchmark', () => {
    for (const [file, own] of [
      ['rbac-controller.yaml', renderedControllerRbac(NS)],
      ['rbac-speaker.yaml', renderedSpeakerRbac(NS)],
    ] as const) {
      const byHelm = parseObjects(
        helm!.ok(['template', 'x', CHART_DIR, '-n', NS, '-s', `templates/${file}`]),
      );
      expect(byHelm).toEqual(own);
    }
  });

  it('carries every CRD of crds/ unchanged but for the keep policy and labels', () => {
    const rendered = helm!.template().filter((o) => o.kind === 'CustomResourceDefinition');
    const sources = [...readCrdFiles(join(ROOT, 'crds')).values()].map(
      (t) => parse(t) as V1CustomResourceDefinition,
    );
    expect(rendered.map((o) => o.metadata.name).sort()).toEqual(sources.map((c) => c.metadata?.name).sort());
    for (const crd of rendered) {
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      expect(crd.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      const { annotations: _a, labels: _l, ...meta } = crd.metadata;
      expect({ ...crd, metadata: meta }).toEqual(sources.find((s) => s.metadata?.name === crd.metadata.name));
    }
  });

  it('draws a fresh key per install when no cluster is there to keep one', () => {
    const key = () =>
      as<V1Secret>(
        find(helm!.template(['-s', 'templates/speaker-secret.yaml']), 'Secret', 'heraldlb-heartbeat'),
      ).data?.keys;
    expect(key()).not.toBe(key());
  });
});
