// What `lab up --runtime` runs, as data: the flags of kube-controller-manager and
// kube-scheduler, and per node the containerd config, the CNI network and the kubelet's
// configuration. Pure: nothing here touches the machine, so all of it is unit-tested.
import { join } from 'node:path';
import type { Host } from './topology.js';

/** The `kubernetes` Service's ClusterIP (first of the IPv4 Service range): the in-cluster
 * environment names it, so every node namespace serves it (the agent's relay), as kube-proxy
 * would make it reach the API server. */
export const KUBERNETES_SERVICE_IP = '198.51.100.1';
export const KUBERNETES_SERVICE_PORT = 443;
/** Image name of the lab's own pause program (lab/bin/pause.c, built by build-runtime.sh). */
export const PAUSE_IMAGE = 'heraldlb.local/pause:1';
/** Seconds a node may be silent before the node lifecycle controller shows it Unknown. */
export const NODE_GRACE_SECONDS = 10;

/** The binaries build-runtime.sh leaves in its output dir. */
export interface RuntimeBinaries {
  dir: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  containerd: string;
  ctr: string;
  cniDir: string;
  pauseArchive: string;
}

export function runtimeBinaries(dir: string): RuntimeBinaries {
  return {
    dir,
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    kubelet: join(dir, 'kubelet'),
    containerd: join(dir, 'containerd'),
    ctr: join(dir, 'ctr'),
    cniDir: join(dir, 'cni'),
    pauseArchive: join(dir, 'pause.tar'),
  };
}

/** Where one node's runtime keeps its files, all under the lab dir. */
export function nodeRuntimePaths(labDir: string, node: string) {
  const base = join(labDir, 'nodes', node);
  return {
    base,
    containerdConfig: join(base, 'containerd.toml'),
    containerdRoot: join(base, 'containerd', 'root'),
    containerdState: join(base, 'containerd', 'state'),
    /** Unix socket paths are limited to 107 bytes: this one stays short under /tmp. */
    containerdSocket: join(labDir, 'run', `ctrd-${node}.sock`),
    cniConfDir: join(base, 'cni'),
    cniConf: join(base, 'cni', '10-lab.conflist'),
    /** Where node-notready parks the CNI config: the runtime's network is then not ready. */
    cniConfParked: join(base, 'cni-parked.conflist'),
    cniState: join(base, 'cni-state'),
    kubeletRoot: join(base, 'kubelet'),
    kubeletConfig: join(base, 'kubelet.yaml'),
    kubeletCerts: join(base, 'kubelet-pki'),
    tunables: join(base, 'tunables'),
    /** The node's /var (its mount namespace binds it there). */
    varDir: join(base, 'var'),
  };
}

/** The cgroup (in every hierarchy) that holds a node's runtime and Pods: `down` and
 * `kill-node` find every process of the node there, whatever namespace it is in. */
export function nodeCgroup(h: Host): string {
  return `/${h.netns}`;
}

/** Each node's Pod subnet: a /29 of the lab segment's unused 192.0.2.128–199 (9 nodes × 8). */
export function podSubnet(h: Host): { subnet: string; gateway: string; first: string; last: string } {
  const i = Number(h.name.replace(/^node/, ''));
  if (!Number.isInteger(i) || i < 1 || i > 9) throw new RangeError(`no Pod subnet for ${h.name}`);
  const base = 128 + 8 * (i - 1);
  return {
    subnet: `192.0.2.${base}/29`,
    gateway: `192.0.2.${base + 1}`,
    first: `192.0.2.${base + 2}`,
    last: `192.0.2.${base + 6}`,
  };
}

export function cniConfig(h: Host, stateDir: string): string {
  const p = podSubnet(h);
  const conf = {
    cniVersion: '1.0.0',
    name: 'heraldlb-lab',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: stateDir,
          ranges: [[{ subnet: p.subnet, gateway: p.gateway, rangeStart: p.first, rangeEnd: p.last }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'loopback' },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export function containerdConfig(labDir: string, h: Host, bins: RuntimeBinaries, runc: string): string {
  const p = nodeRuntimePaths(labDir, h.name);
  const q = (s: string) => JSON.stringify(s);
  return `version = 3
root = ${q(p.containerdRoot)}
state = ${q(p.containerdState)}
# Snapshotters that need kernel features or tools the lab has none of.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(p.containerdSocket)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(join(p.base, 'opt'))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(PAUSE_IMAGE)}

[plugins.'io.containerd.cri.v1.runtime']
  # This machine withholds CAP_SYS_RESOURCE even from root, so no process may lower its
  # oom_score_adj (kubelet asks -998 for sandboxes): clamp to containerd's own, as rootless.
  restrict_oom_score_adj = true
  # Pod network namespaces are bind-mounted in the state dir, inside the lab (never the host's).
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(bins.cniDir)}]
    conf_dir = ${q(p.cniConfDir)}
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(runc)}
        SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

export function kubeletConfig(labDir: string, h: Host, caFile: string): string {
  const p = nodeRuntimePaths(labDir, h.name);
  const doc = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This machine mounts cgroup v1 hierarchies (hybrid); Kubernetes ≥ 1.35 refuses them
    // unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: nodeCgroup(h),
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    failSwapOn: false,
    address: h.ipv4,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: caFile },
    },
    authorization: { mode: 'AlwaysAllow' },
    // Quick heartbeats so the lab's grace (10 s) can be the node lifecycle controller's.
    nodeLeaseDurationSeconds: 8,
    nodeStatusUpdateFrequency: '2s',
    // The lab shares the host's disk: only a full disk should evict anything.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    maxPods: 30,
    serializeImagePulls: false,
    shutdownGracePeriod: '0s',
    registerNode: true,
    rotateCertificates: false,
    resolvConf: '',
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function kubeletArgs(labDir: string, h: Host, nodeKubeconfig: string): string[] {
  const p = nodeRuntimePaths(labDir, h.name);
  return [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${nodeKubeconfig}`,
    `--root-dir=${p.kubeletRoot}`,
    `--cert-dir=${p.kubeletCerts}`,
    `--hostname-override=${h.name}`,
    `--node-ip=${[h.ipv4, h.ipv6].filter(Boolean).join(',')}`,
    '--node-labels=heraldlb.io/lab-node=true',
    '--v=1',
  ];
}

/** Kernel settings kubelet insists on (it writes them when they differ). They are not
 * per network namespace, so the lab never lets it write the host's: its mount namespace
 * shows these values in files bind-mounted over /proc/sys (see lab/bin/node-mounts.sh). */
export const KUBELET_TUNABLES: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

export function controllerManagerArgs(o: {
  kubeconfig: string;
  caCert: string;
  caKey: string;
  saKey: string;
}): string[] {
  return [
    `--kubeconfig=${o.kubeconfig}`,
    `--authentication-kubeconfig=${o.kubeconfig}`,
    `--authorization-kubeconfig=${o.kubeconfig}`,
    `--root-ca-file=${o.caCert}`,
    `--cluster-signing-cert-file=${o.caCert}`,
    `--cluster-signing-key-file=${o.caKey}`,
    `--service-account-private-key-file=${o.saKey}`,
    '--use-service-account-credentials=false',
    '--leader-elect=false',
    '--controllers=*',
    `--node-monitor-grace-period=${NODE_GRACE_SECONDS}s`,
    '--node-monitor-period=1s',
    '--bind-address=127.0.0.1',
    // Loopback of the host: any free port, nothing outside reaches it.
    '--secure-port=0',
    '--profiling=false',
    '--v=1',
  ];
}

export function schedulerArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--profiling=false',
    '--v=1',
  ];
}
