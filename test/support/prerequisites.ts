import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What a tier needs from the machine, as one sentence per missing thing. */
export function missing(needs: {
  root?: boolean;
  netns?: boolean;
  go?: boolean;
  commands?: string[];
}): string[] {
  const out: string[] = [];
  if (needs.root && process.getuid?.() !== 0) out.push('must run as root');
  if (needs.go && !has('go') && !existsSync('/usr/local/go/bin/go'))
    out.push('`go` is needed to build the control plane');
  if (needs.netns) {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    } catch {
      out.push('`ip netns` (iproute2) is not usable');
    }
  }
  for (const c of needs.commands ?? []) if (!has(c)) out.push(`\`${c}\` is not installed`);
  return out;
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Under CI=true a missing prerequisite fails the run; elsewhere the tier skips, loudly. */
export function refuseOrWarn(tier: string, problems: string[]): boolean {
  if (problems.length === 0) return true;
  const text = `${tier} tier cannot run: ${problems.join('; ')}`;
  if (process.env.CI === 'true') throw new Error(`${text} (CI=true: a tier may not skip)`);
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n!! SKIPPING THE ${tier.toUpperCase()} TIER: ${text}\n${bar}\n\n`);
  return false;
}
