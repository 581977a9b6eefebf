// What both demos show and do the same way: commands echoed as a user would type them, the
// sample pool + advertisement + Service, waiting on a jsonpath, and the measured failover.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodeAction } from './ops.js';
import { outageMs, parseProbe, probeArgs } from './probe.js';
import { waitFor } from './procs.js';
import { POOL_V4_ONLINK } from './topology.js';

const run = promisify(execFile);

export type Say = (line: string) => void;

export const SAMPLE = `apiVersion: heraldlb.io/v1beta1
kind: IPAddressPool
metadata:
  name: demo
spec:
  addresses:
  - ${POOL_V4_ONLINK.start}-${POOL_V4_ONLINK.end}
---
apiVersion: heraldlb.io/v1beta1
kind: L2Advertisement
metadata:
  name: demo
spec:
  ipAddressPools: [demo]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  ports:
  - port: 80
    protocol: TCP
`;

/** Runs a command, printing `$ shown` and its output; '' when it failed (the demo goes on). */
export async function shell(
  say: Say,
  shown: string,
  cmd: string,
  args: string[],
  o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  say(`\n$ ${shown}`);
  try {
    const { stdout, stderr } = await run(cmd, args, {
      timeout: o.timeoutMs ?? 30_000,
      env: o.env ?? process.env,
      maxBuffer: 4 << 20,
    });
    const text = `${stdout}${stderr}`.trimEnd();
    say(text);
    return text || ' ';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const text = `${e.stdout ?? ''}${e.stderr ?? ''}`.trimEnd() || e.message;
    say(text);
    return '';
  }
}

/** The lab's kubectl as a user types it (`kubectl …`, KUBECONFIG exported). */
export function kubectlAs(say: Say, kubectl: string, kubeconfig: string) {
  return (...args: string[]) =>
    shell(say, `kubectl ${args.join(' ')}`, kubectl, ['--kubeconfig', kubeconfig, ...args]);
}

/** A command in the client namespace, shown as `lab exec client -- …`. */
export function inClient(say: Say, netns: string) {
  return (...argv: string[]) =>
    shell(say, `lab exec client -- ${argv.join(' ')}`, 'ip', ['netns', 'exec', netns, ...argv]);
}

/** The value of `jsonpath` once `accept` takes it (polled), or '' after `timeoutMs`. */
export async function waitJsonpath(
  kubectl: string,
  kubeconfig: string,
  args: string[],
  jsonpath: string,
  accept: (value: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  let value = '';
  await waitFor(
    async () => {
      const out = await run(kubectl, [
        '--kubeconfig',
        kubeconfig,
        ...args,
        '-o',
        `jsonpath=${jsonpath}`,
      ]).catch(() => ({ stdout: '' }));
      value = out.stdout.trim();
      return accept(value);
    },
    timeoutMs,
    250,
  ).catch(() => {});
  return accept(value) ? value : '';
}

/** The VIP of the demo's Service `web`, or '' when none within `timeoutMs`. */
export function waitVip(kubectl: string, kubeconfig: string, timeoutMs: number): Promise<string> {
  return waitJsonpath(
    kubectl,
    kubeconfig,
    ['get', 'svc', 'web'],
    '{.status.loadBalancer.ingress[0].ip}',
    (v) => v !== '',
    timeoutMs,
  );
}

/** The one node recorded as announcing `web` (its L2Announcement), or '' within 30 s. */
export function waitOwner(kubectl: string, kubeconfig: string): Promise<string> {
  return waitJsonpath(
    kubectl,
    kubeconfig,
    ['get', 'l2announcements', '-n', 'default'],
    '{.items[*].status.node}',
    (v) => v !== '' && v.split(/\s+/).length === 1,
    30_000,
  );
}

/**
 * The owner's power cut while the client opens a fresh connection every 20 ms (100 ms deadline
 * each): prints the outage the client saw and who serves now. The caller revives the node.
 */
export async function killOwnerMeasured(
  say: Say,
  dir: string,
  clientNetns: string,
  vip: string,
  owner: string,
  windowMs = 8000,
): Promise<void> {
  say(`\nNow the power goes off on ${owner}, the announcing node, while the client opens a fresh`);
  say('connection every 20 ms (100 ms deadline each):');
  const probing = run(
    'ip',
    [
      'netns',
      'exec',
      clientNetns,
      process.execPath,
      join(import.meta.dirname, 'probe.js'),
      ...probeArgs(`http://${vip}/`, windowMs),
    ],
    { timeout: windowMs + 30_000 },
  );
  await new Promise((res) => setTimeout(res, 1000));
  const at = Date.now();
  say(`\n$ lab kill-node ${owner}`);
  say(await nodeAction(dir, 'kill-node', owner));
  const attempts = parseProbe((await probing).stdout);
  const gap = outageMs(attempts, at);
  const after = attempts.filter((x) => x.ok).at(-1)?.node;
  say(
    gap === undefined
      ? 'the VIP did not come back within the window; see the speaker logs'
      : `client-observed outage: ${gap} ms (fresh connections failing from the last success before the cut to the first after it); now served by ${after}`,
  );
}
