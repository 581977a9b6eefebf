#!/usr/bin/env node
/** heraldlb-controller: parse flags, build the root logger and clients, run until signalled. */
import pino from 'pino';
import { loadConnection } from '../kube/connection.js';
import { optionsOrExit, runMain, stopSignal } from '../kube/program.js';
import { apiIO, ControllerApp } from './app.js';
import { helpText, parseOptions } from './options.js';

async function main(): Promise<number> {
  const opts = optionsOrExit(
    'heraldlb-controller',
    () => parseOptions(process.argv.slice(2), process.env),
    helpText,
  );
  if (typeof opts === 'number') return opts;
  // The root logger carries who we are; each module adds its own `component`.
  const log = pino({
    level: opts.logLevel,
    base: { program: 'heraldlb-controller', identity: opts.identity },
  });
  const conn = await loadConnection({ kubeconfigPath: opts.kubeconfig });
  const stop = stopSignal(log);
  log.info({ loadBalancerClass: opts.loadBalancerClass ?? null, leaderElect: opts.leaderElect }, 'starting');
  await new ControllerApp(opts, apiIO(conn, opts), log.child({ component: 'controller' })).run(stop);
  log.info('stopped');
  return 0;
}

runMain('heraldlb-controller', main);
