#!/usr/bin/env node
/** heraldlb-speaker: parse flags, build the root logger and clients, run until signalled. */
import pino from 'pino';
import { systemClock } from '../kube/clock.js';
import { loadConnection } from '../kube/connection.js';
import { HealthServer, splitHostPort } from '../kube/health-server.js';
import { optionsOrExit, runMain, stopSignal } from '../kube/program.js';
import { SpeakerApp } from './app.js';
import { addonTrim, startMallocTrim } from './malloc-trim.js';
import { speakerMetrics } from './metrics.js';
import { helpText, parseOptions } from './options.js';

// Sockets to the API server: the seven informers' watches hold one each, the rest serve the
// status writer, Events and the presence Lease. The default 64 (the controller's) let a
// takeover open dozens of TLS sockets that keep-alive then kept: ~100 KiB of native memory
// each, for good. Four idle ones stay for the next burst.
const API_SOCKETS = { max: 16, maxFree: 4 };

async function main(): Promise<number> {
  const opts = optionsOrExit(
    'heraldlb-speaker',
    () => parseOptions(process.argv.slice(2), process.env),
    helpText,
  );
  if (typeof opts === 'number') return opts;
  const log = pino({ level: opts.logLevel, base: { program: 'heraldlb-speaker', node: opts.nodeName } });
  const conn = await loadConnection({ kubeconfigPath: opts.kubeconfig, sockets: API_SOCKETS });
  const stop = stopSignal(log);
  const stall = debugStall(process.env.HERALDLB_DEBUG_STALL);
  if (stall) log.warn(stall, 'HERALDLB_DEBUG_STALL: blocking the main thread on purpose (fault injection)');
  const metrics = speakerMetrics();
  const app = new SpeakerApp(opts, conn, systemClock, metrics, log);
  const stopTrim = startMallocTrim({ clock: systemClock, trim: addonTrim() });
  if (opts.metricsAddr) {
    const [host, port] = splitHostPort(opts.metricsAddr);
    await new HealthServer({
      host,
      port,
      registry: metrics.registry,
      ready: () => app.ready(),
      logger: log,
    }).start(stop);
  }
  log.info({ interfacesFrom: 'sysfs', heartbeatPort: opts.heartbeatPort }, 'starting');
  await app.run(stop);
  stopTrim();
  log.info('stopped');
  // Whatever is still in flight (a status write past its deadline) must not keep a stopping
  // speaker alive until its grace period's SIGKILL.
  setTimeout(() => process.exit(0), 100).unref();
  return 0;
}

/**
 * Fault injection for tests: "300/1000" blocks the main thread 300 ms every 1000 ms, as a long
 * garbage collection or a starved CPU would. Liveness must survive it (heartbeats run in a
 * worker thread); nothing else in the program looks at this.
 */
function debugStall(spec: string | undefined): { blockMs: number; everyMs: number } | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(spec ?? '');
  if (!m) return undefined;
  const blockMs = Math.min(5000, Number(m[1]));
  const everyMs = Math.max(100, Number(m[2]));
  setInterval(() => {
    const end = performance.now() + blockMs;
    while (performance.now() < end) {
      // busy on purpose
    }
  }, everyMs).unref();
  return { blockMs, everyMs };
}

runMain('heraldlb-speaker', main);
