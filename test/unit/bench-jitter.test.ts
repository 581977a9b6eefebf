import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCpuTimes, stealPercent } from '../../bench/jitter.js';

const dir = mkdtempSync(join(tmpdir(), 'hlb-jitter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stat = (line: string) => {
  const f = join(dir, `stat-${Math.random()}`);
  writeFileSync(f, `${line}\ncpu0 1 2 3 4 5 6 7 8 9 10\n`);
  return f;
};

describe('steal time from /proc/stat', () => {
  it('sums the first eight counters and takes the eighth as steal', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    expect(readCpuTimes(stat('cpu  100 0 50 800 10 0 5 35 20 0'))).toEqual({ steal: 35, total: 1000 });
  });

  it('gives the stolen share of the time between two readings', () => {
    const a = readCpuTimes(stat('cpu  100 0 50 800 10 0 5 35 0 0'));
    const b = readCpuTimes(stat('cpu  150 0 60 1010 10 0 5 65 0 0'));
    expect(stealPercent(a, b)).toBeCloseTo(10); // 30 of 300 ticks
    expect(stealPercent(a, a)).toBe(0);
  });

  it('reads this machine', () => {
    const t = readCpuTimes();
    expect(t.total).toBeGreaterThan(0);
    expect(t.steal).toBeGreaterThanOrEqual(0);
  });
});
