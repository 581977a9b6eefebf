// `npm run demo`: the user's path, end to end. A lab cluster that runs workloads (`up
// --runtime`: kubelet + containerd per node), the container image built from this checkout
// and loaded into every node, `helm install --wait` of charts/heraldlb, then the sample pool,
// advertisement and Service; ARP and curl from the client; the announcing node's power cut
// with the outage the client measured; the node revived. What runs is what a user installs.
// The quicker loop over dist/ slot processes is `lab demo --slots` (lab/demo-slots.ts).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureImage } from '../image/build.js';
import { ensureBinaries, repoRoot } from './control-plane.js';
import {
  inClient,
  killOwnerMeasured,
  kubectlAs,
  SAMPLE,
  type Say,
  shell,
  waitOwner,
  waitVip,
} from './demo-steps.js';
import { down } from './down.js';
import { ensureHelm } from './helm.js';
import { loadImageCmd, nodeAction } from './ops.js';
import { labPaths, readState } from './state.js';
import { PRODUCT_NAMESPACE, up } from './up.js';

const run = promisify(execFile);

const RELEASE = 'heraldlb';

export async function demo(dir: string, say: Say): Promise<void> {
  const started = Date.now();
  const repo = repoRoot();
  const existing = (() => {
    try {
      return readState(dir);
    } catch {
      return undefined;
    }
  })();
  // Only a lab a demo made is reused: any other (no --runtime, other node count, CRDs applied
  // by the lab, which Helm then refuses to adopt) is taken down first.
  const marker = join(dir, 'demo-lab');
  if (existing && !existsSync(marker)) {
    say('a lab the demo did not make is up: taking it down for the chart demo');
    await down({ dir, say });
  }
  say(
    '== 1/5 the lab: etcd, kube-apiserver, controller-manager, scheduler; 3 nodes with kubelet + containerd',
  );
  say('   (the first run builds the pinned binaries from Go modules: several minutes, then cached)');
  // The chart installs the CRDs (crds.enabled), so the lab must not apply them first: Helm
  // refuses to adopt objects it did not create.
  const r = await up({ dir, nodes: 3, runtime: true, crds: false, say });
  await writeFile(marker, 'lab up --nodes 3 --runtime, no CRDs (the chart installs them)\n');
  const kc = r.kubeconfig;
  const { kubectl } = await ensureBinaries();
  const k = kubectlAs(say, kubectl, kc);
  const client = inClient(say, r.topology.client.netns);
  say(`   kubeconfig: export KUBECONFIG=${kc}`);
  await k('get', 'nodes', '-o', 'wide');

  say('\n== 2/5 the container image (npm run image), loaded into every node\u2019s containerd');
  const img = await ensureImage({ repo, log: (l) => say(`   ${l}`) });
  if (!('digest' in img)) throw new Error('the image build stopped at its context');
  say(`   ${img.reference} ${img.digest} (${img.reused ? 'reused' : `built in ${img.seconds} s`})`);
  say(`   ${await loadImageCmd(dir, img.dockerArchive)}`);

  say('\n== 3/5 helm install');
  const helmBin = await ensureHelm(say);
  const home = join(dir, 'helm');
  await mkdir(home, { recursive: true });
  const env = {
    ...process.env,
    KUBECONFIG: kc,
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  const helm = (...args: string[]) =>
    shell(say, `helm ${args.join(' ')}`, helmBin, args, { env, timeoutMs: 360_000 });
  // The speaker needs hostNetwork and NET_RAW: its namespace must allow privileged Pods.
  await k(
    'label',
    '--overwrite',
    'namespace',
    PRODUCT_NAMESPACE,
    'pod-security.kubernetes.io/enforce=privileged',
  );
  const [repository, tag] = splitReference(img.reference);
  // Asked quietly: a first run has no release, and an echoed "Error: release: not found" reads
  // as a failure.
  const installed = await run(helmBin, ['status', RELEASE, '-n', PRODUCT_NAMESPACE], { env }).then(
    () => true,
    () => false,
  );
  const t = Date.now();
  const out = await helm(
    ...[
      installed ? 'upgrade' : 'install',
      RELEASE,
      join(repo, 'charts', 'heraldlb'),
      '-n',
      PRODUCT_NAMESPACE,
    ],
    ...['--wait', '--timeout', '5m', '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`],
    ...['--set', 'image.pullPolicy=Never'],
  );
  if (!out) throw new Error(`helm ${installed ? 'upgrade' : 'install'} failed (see above)`);
  say(`   Deployment and DaemonSet Ready ${((Date.now() - t) / 1000).toFixed(1)} s after helm started`);
  await k('get', 'pods', '-n', PRODUCT_NAMESPACE, '-o', 'wide');

  say('\n== 4/5 a pool, an L2Advertisement and a LoadBalancer Service');
  const sample = join(dir, 'demo.yaml');
  await writeFile(sample, SAMPLE);
  say(SAMPLE.trimEnd().replace(/^/gm, '   '));
  await k('apply', '-f', sample);
  const vip = await waitVip(kubectl, kc, 60_000);
  await k('get', 'svc', 'web');
  if (!vip)
    throw new Error(
      'the Service got no IP within 60 s; see `kubectl -n heraldlb-system logs deploy/heraldlb-controller`',
    );
  const owner = await waitOwner(kubectl, kc);
  await k('get', 'l2announcements', '-n', 'default');
  await client('arping', '-b', '-c', '3', '-w', '4', '-I', 'eth0', vip);
  await client('curl', '-s', '-m', '5', `http://${vip}/`);
  if (!owner) throw new Error('no speaker recorded an announcement within 30 s; see the speaker logs');

  say('\n== 5/5 the announcing node loses power');
  await killOwnerMeasured(say, dir, r.topology.client.netns, vip, owner);
  await k('get', 'l2announcements', '-n', 'default');
  say(`\n$ lab revive-node ${owner}`);
  say(await nodeAction(dir, 'revive-node', owner));
  say(`\ndemo done in ${((Date.now() - started) / 1000).toFixed(0)} s. Next:`);
  say(`  export KUBECONFIG=${kc}   # then kubectl and helm as on any cluster`);
  say('  npm run lab -- kill-node node2 | revive-node node2 | partition node2 | heal node2');
  say(`  npm run lab -- down        # removes everything the demo made (logs: ${labPaths(dir).logs})`);
}

/** `host/name:tag` → [`host/name`, `tag`]. */
export function splitReference(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  if (i <= ref.lastIndexOf('/')) return [ref, 'latest'];
  return [ref.slice(0, i), ref.slice(i + 1)];
}
