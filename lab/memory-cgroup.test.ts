import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupMemory } from './memory-cgroup.js';

const MIB = 2 ** 20;
let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function group(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'hlb-cg-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('cgroupMemory reads what the kernel charged', () => {
  it('cgroup v1: usage, max usage, rss/cache from memory.stat, oom_kill', () => {
    const g = group({
      'memory.usage_in_bytes': `${40 * MIB}\n`,
      'memory.max_usage_in_bytes': `${63 * MIB}\n`,
      // total_rss must not be read for rss: the key is matched whole
      'memory.stat': `cache ${12 * MIB}\nrss ${28 * MIB}\ntotal_rss ${99 * MIB}\n`,
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    expect(cgroupMemory(g)).toEqual({ currentMiB: 40, peakMiB: 63, anonMiB: 28, fileMiB: 12, oomKills: 2 });
  });

  it('cgroup v2: memory.current, memory.peak, anon/file, memory.events', () => {
    const g = group({
      'memory.current': `${30 * MIB}\n`,
      'memory.peak': `${50 * MIB}\n`,
      'memory.stat': `anon ${20 * MIB}\nfile ${9 * MIB}\nanon_thp 0\n`,
      'memory.events': 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n',
    });
    expect(cgroupMemory(g)).toEqual({ currentMiB: 30, peakMiB: 50, anonMiB: 20, fileMiB: 9, oomKills: 0 });
  });
});
