// setupFiles of the integration and e2e tiers: after each file, its log directories go when
// every test passed and stay (named on stderr) when one failed.
import { afterAll } from 'vitest';
import { settleLogDirs } from './log-dirs.js';

interface Task {
  result?: { state?: string };
  tasks?: Task[];
}

const failed = (t: Task): boolean => t.result?.state === 'fail' || (t.tasks ?? []).some((c) => failed(c));

afterAll((file) => {
  const keep = failed(file as Task);
  const dirs = settleLogDirs(keep);
  if (keep && dirs.length > 0) process.stderr.write(`logs kept for the failed test: ${dirs.join(' ')}\n`);
});
