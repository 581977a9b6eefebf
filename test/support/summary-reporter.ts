import type { RunnerTask, RunnerTestFile } from 'vitest';
import type { Reporter } from 'vitest/node';

// CI reads one plain closing line, `N passed, N failed`. It is printed from onFinished,
// after the default reporter's summary, so it is the run's last line. Skipped tests are
// counted too, so a tier that skipped is visible (under CI=true a tier's own setup turns
// a missing prerequisite into a failure; nothing is hidden here).
export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const counts = { passed: 0, failed: errors.length, skipped: 0 };
    const visit = (t: RunnerTask): void => {
      if (t.type === 'suite') {
        // A file or suite that failed outside any test (setup, import) is a failure too.
        if (t.result?.state === 'fail' && t.tasks.every((c) => c.result?.state !== 'fail')) counts.failed++;
        for (const c of t.tasks) visit(c);
        return;
      }
      const s = t.result?.state;
      if (s === 'pass') counts.passed++;
      else if (s === 'fail') counts.failed++;
      else counts.skipped++;
    };
    for (const f of files) visit(f);
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}
