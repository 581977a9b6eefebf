// Temp directories holding a test's process logs: kept when a test of the file failed (the
// log is the evidence), removed when all passed (test/support/keep-failed-logs.ts), so a green
// run leaves nothing in /tmp. Module state is per test file: vitest isolates each file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];

export function logDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  dirs.push(dir);
  return dir;
}

/** The directories made so far, forgotten: removed (`keep` false) or only listed. */
export function settleLogDirs(keep: boolean): string[] {
  const made = dirs.splice(0);
  if (!keep) for (const d of made) rmSync(d, { recursive: true, force: true });
  return made;
}
