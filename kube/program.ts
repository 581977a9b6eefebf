// The shell both programs' main.ts share: flags to options (exit 2 naming a bad flag, --help),
// SIGTERM/SIGINT to an AbortSignal, and an exit code from what main returned or threw.
import { UsageError } from './flags.js';
import type { Logger } from './log.js';

/** Options, or the exit code to return at once (0 after --help, 2 after a bad flag). */
export function optionsOrExit<O>(program: string, parse: () => O | 'help', help: () => string): O | number {
  let opts: O | 'help';
  try {
    opts = parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(help());
    return 0;
  }
  return opts;
}

/** Aborted on the first SIGTERM or SIGINT, which is logged. */
export function stopSignal(log: Logger): AbortSignal {
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info({ signal: sig }, 'stopping');
      stop.abort();
    });
  }
  return stop.signal;
}

/** Runs main; its result becomes the exit code, a throw is printed and exits 1. */
export function runMain(program: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${program}: ${err?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
