#!/usr/bin/env node
/** heraldlb-controller: parse flags, build the root logger and clients, run until signalled. */
import pino from 'pino';
import { loadConnection } from '../kube/connection.js';
import { apiIO, ControllerApp } from './app.js';
import { helpText, parseOptions, UsageError } from './options.js';

async function main(): Promise<number> {
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`heraldlb-controller: ${err.message}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  // The root logger carries who we are; each module adds its own `component`.
  const log = pino({
    level: opts.logLevel,
    base: { program: 'heraldlb-controller', identity: opts.identity },
  });
  const conn = await loadConnection({ kubeconfigPath: opts.kubeconfig });
  const stop = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info({ signal: sig }, 'stopping');
      stop.abort();
    });
  }
  log.info({ loadBalancerClass: opts.loadBalancerClass ?? null, leaderElect: opts.leaderElect }, 'starting');
  await new ControllerApp(opts, apiIO(conn, opts), log.child({ component: 'controller' })).run(stop.signal);
  log.info('stopped');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`heraldlb-controller: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
