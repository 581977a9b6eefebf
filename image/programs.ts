// The programs the image holds and how Node must be started for each: the one place the
// image's entry script, its Dockerfile ENTRYPOINT (checked by a drift test) and anything else
// that starts them from the image read. The controller's flags live in controller/launch.ts,
// which the lab, tests and benchmark use too, so what is measured is what ships.
import { CONTROLLER_NODE_FLAGS } from '../controller/launch.js';

// The speaker's own list, until it has its own launch file beside the controller's. It
// starts from the controller's reasoning (a small, mostly idle heap); a speaker that needs
// something else (say, a larger young generation for bursts of packets) changes this list
// and the entry script re-executes Node with it (see entry.ts).
export const SPEAKER_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];

/**
 * V8 bounds for the speaker, given as NODE_OPTIONS (the chart's DaemonSet, the lab) so the
 * image's entry needs no re-exec. Its heap holds a few MiB per 100 IPs (54 MiB used at 1,000
 * IPs on Node 24), but unbounded, Node 24 sizes V8 from the host (241-338 MiB RSS measured):
 * small young-generation semi-spaces and an old-space cap keep what is reserved near use.
 */
export const SPEAKER_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=128';

export type ProgramName = 'controller' | 'speaker';

export interface Program {
  /** Its main module, relative to the dist/ directory. */
  readonly main: string;
  /** Node options it must run with (before the script on Node's command line). */
  readonly nodeFlags: readonly string[];
  readonly summary: string;
}

export const PROGRAMS: Readonly<Record<ProgramName, Program>> = {
  controller: {
    main: 'controller/main.js',
    nodeFlags: CONTROLLER_NODE_FLAGS,
    summary: 'assigns IPs from IPAddressPools to LoadBalancer Services (a Deployment)',
  },
  speaker: {
    main: 'speaker/main.js',
    nodeFlags: SPEAKER_NODE_FLAGS,
    summary: 'announces each assigned IP from one healthy node over ARP/NDP (a DaemonSet)',
  },
};

/** Where Node, the entry script and the app live inside the image. */
export const IMAGE_PATHS = {
  node: '/usr/local/bin/node',
  app: '/app',
  entry: '/app/dist/image/entry.js',
} as const;

/**
 * The Node flags every program shares: the ones the image's ENTRYPOINT passes, so the common
 * case starts one process. A program that needs more is re-executed by the entry script.
 */
export function sharedNodeFlags(programs: readonly Program[] = Object.values(PROGRAMS)): string[] {
  const [first, ...rest] = programs;
  if (!first) return [];
  return first.nodeFlags.filter((f) => rest.every((p) => p.nodeFlags.includes(f)));
}

/** The image's ENTRYPOINT, as the Dockerfile must spell it. */
export function imageEntrypoint(): string[] {
  return [IMAGE_PATHS.node, ...sharedNodeFlags(), IMAGE_PATHS.entry];
}
