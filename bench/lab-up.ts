// `node dist/bench/lab-up.js [--cycles 5] [--nodes 3]`: times `lab up` from nothing (control
// plane, CRDs, namespaces, agents, Nodes Ready) over several up/down cycles and prints one
// Markdown row for docs/benchmarks.md. Refuses to run while a lab is up on this machine.
import { execFile } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const cli = join(dirname(dirname(fileURLToPath(import.meta.url))), 'lab', 'cli.js');

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

async function lab(dir: string, ...args: string[]): Promise<void> {
  await run(process.execPath, [cli, '--dir', dir, ...args], { timeout: 300_000 });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { cycles: { type: 'string' }, nodes: { type: 'string' } } });
  const cycles = Number(values.cycles ?? 5);
  const nodes = values.nodes ?? '3';
  const { stdout } = await run('ip', ['netns', 'list']);
  if (/^hlb-lan\b/m.test(stdout))
    throw new Error('a lab is up on this machine (hlb-lan exists); `lab down` first');
  const dir = join(tmpdir(), 'heraldlb-lab-bench');
  const secs: number[] = [];
  for (let i = 0; i < cycles && i < 50; i++) {
    const t0 = process.hrtime.bigint();
    await lab(dir, 'up', '--nodes', nodes);
    secs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    await lab(dir, 'down');
    process.stderr.write(`cycle ${i + 1}/${cycles}: up ${secs.at(-1)?.toFixed(2)} s\n`);
  }
  const sorted = [...secs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  process.stdout.write('| benchmark | runs | median | p99 | machine |\n|---|---|---|---|---|\n');
  process.stdout.write(
    `| \`lab up\` ${nodes} nodes, from nothing (s) | ${secs.length} | ${f(percentile(sorted, 50))} | ${f(percentile(sorted, 99))} | ${cpus().length} CPU, Node ${process.versions.node} |\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench/lab-up: ${(err as Error).message}\n`);
  process.exit(1);
});
