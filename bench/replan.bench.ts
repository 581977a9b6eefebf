/**
 * What one speaker replan costs at 1,000 Services, in time and in garbage: `npm run bench --
 * replan`. The speaker's memory limit is met or missed on V8's old generation, which grows by
 * whatever a replan's objects survive into (a model and plan kept until the next replan are
 * promoted, then collected as old garbage), so "promoted per replan" is the figure to drive
 * down; "allocated" is what the young generation absorbs.
 *
 * Runs bench/replan-loop.ts on the image's Node (lab/bin/node24.sh, or HERALDLB_LAB_NODE) with
 * the speaker's V8 flags (image/programs.ts) and --trace-gc-nvp, once per scenario.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SPEAKER_NODE_FLAGS, SPEAKER_NODE_OPTIONS } from '../image/programs.js';
import { machineLine, median, p99 } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const REPLANS = Number(process.env.HERALDLB_BENCH_REPLANS || 3000);

export interface ReplanFigures {
  scenario: string;
  replans: number;
  allocatedKiB: number; // per replan
  promotedKiB: number; // per replan
  scavenges: number;
  markCompacts: number;
  p50ms: number;
  p99ms: number;
  node: string;
}

/** Sums one --trace-gc-nvp output: `gc=s` lines are scavenges, `gc=mc`/`gc=mmc` full GCs. */
export function gcTotals(out: string): {
  allocated: number;
  promoted: number;
  scavenges: number;
  markCompacts: number;
} {
  let allocated = 0;
  let promoted = 0;
  let scavenges = 0;
  let markCompacts = 0;
  for (const line of out.split('\n')) {
    const kind = / gc=(\w+) /.exec(line)?.[1];
    if (!kind) continue;
    if (kind === 's' || kind === 'ms')
      scavenges++; // ms: minor mark-sweep, a young-generation GC
    else markCompacts++;
    allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { allocated, promoted, scavenges, markCompacts };
}

function run(node: string, scenario: string): ReplanFigures {
  const args = [
    ...SPEAKER_NODE_FLAGS,
    ...SPEAKER_NODE_OPTIONS.split(' '),
    '--trace-gc-nvp',
    join(root, 'dist', 'bench', 'replan-loop.js'),
    scenario,
    String(REPLANS),
  ];
  const r = spawnSync(node, args, { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`replan loop ${scenario} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`replan loop ${scenario} printed no RESULT line`);
  const res = JSON.parse(line.slice('RESULT '.length)) as { ms: number[]; node: string; owned: number };
  if (res.owned < 1) throw new Error(`replan loop ${scenario}: node1 owns nothing (${res.owned})`);
  const gc = gcTotals(r.stdout);
  const ms = res.ms.slice(Math.floor(res.ms.length / 10)); // the first tenth warms the JIT up
  return {
    scenario,
    replans: REPLANS,
    allocatedKiB: gc.allocated / 1024 / REPLANS,
    promotedKiB: gc.promoted / 1024 / REPLANS,
    scavenges: gc.scavenges,
    markCompacts: gc.markCompacts,
    p50ms: median(ms),
    p99ms: p99(ms),
    node: res.node,
  };
}

export async function benchReplan(): Promise<string> {
  const node =
    process.env.HERALDLB_LAB_NODE ||
    execFileSync('bash', [join(root, 'lab', 'bin', 'node24.sh')], { encoding: 'utf8' }).trim();
  const rows = ['quiet', 'churn'].map((s) => run(node, s));
  const f = (x: number, d = 1) => x.toFixed(d);
  return [
    `Machine: ${machineLine()}; replans on Node ${rows[0]?.node} with \`${[...SPEAKER_NODE_FLAGS, SPEAKER_NODE_OPTIONS].join(' ')}\`, ${new Date().toISOString()}`,
    '',
    '| scenario (1,000 Services, 3 nodes) | replans | allocated per replan (KiB) | promoted per replan (KiB) | scavenges / full GCs | replan p50 / p99 (ms) |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.replans} | ${f(r.allocatedKiB)} | ${f(r.promotedKiB, 2)} | ${r.scavenges} / ${r.markCompacts} | ${f(r.p50ms, 2)} / ${f(r.p99ms, 2)} |`,
    ),
    '',
  ].join('\n');
}
