#!/usr/bin/env node
// The per-node process, started inside a node namespace by the lab:
// - an HTTP server on port 80 that answers, on any local address (the node IP and every
//   pool VIP, which are local routes), with the node's name — so a client's `curl` shows
//   which node serves a VIP;
// - the node side of the API relay: 127.0.0.1:6443 here, each TCP connection piped to the
//   keeper's unix socket for this node (unix sockets cross network namespaces because
//   the filesystem is shared). TLS is end to end: the relay sees only bytes.
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { pipeBoth } from './pipe.js';
import { labPaths } from './state.js';
import { NODE_API_PORT } from './topology.js';

export interface AgentOptions {
  node: string;
  apiSocket: string;
  httpPort: number;
  apiPort: number;
  /** Also relay on this address:port (the `kubernetes` Service, with `--runtime`). */
  serviceAddress?: { host: string; port: number };
  log: pino.Logger;
}

function listen(server: Server | HttpServer, port: number, host: string): Promise<void> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen({ port, host, ipv6Only: false }, () => {
      server.off('error', rej);
      res();
    });
  });
}

export async function startAgent(o: AgentOptions): Promise<{ stop(): Promise<void> }> {
  const http = createHttpServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('x-heraldlb-node', o.node);
    res.end(`${o.node}\n`);
    o.log.debug({ remote: req.socket.remoteAddress, local: req.socket.localAddress }, 'http request');
  });
  // `::` with ipv6Only=false takes IPv4 too; a namespace without IPv6 falls back to 0.0.0.0.
  await listen(http, o.httpPort, '::').catch(() => listen(http, o.httpPort, '0.0.0.0'));

  const relayOne = (client: Socket) => {
    const upstream = connect(o.apiSocket);
    pipeBoth(client, upstream);
    upstream.on('error', (err) => o.log.debug({ err: err.message }, 'api relay refused'));
  };
  const relay = createServer(relayOne);
  await listen(relay, o.apiPort, '127.0.0.1');
  const service = createServer(relayOne);
  if (o.serviceAddress) await listen(service, o.serviceAddress.port, o.serviceAddress.host);
  o.log.info(
    { httpPort: o.httpPort, apiPort: o.apiPort, apiSocket: o.apiSocket, service: o.serviceAddress },
    'node agent ready',
  );
  return {
    stop: async () => {
      await Promise.all([
        new Promise((r) => http.close(r)),
        new Promise((r) => relay.close(r)),
        o.serviceAddress ? new Promise((r) => service.close(r)) : undefined,
        http.closeAllConnections(),
      ]);
    },
  };
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, node: { type: 'string' }, 'service-address': { type: 'string' } },
  });
  if (!values.dir || !values.node) throw new Error('usage: node-agent --dir <lab dir> --node <name>');
  const log = pino({ base: { component: 'node-agent', node: values.node } });
  const paths = labPaths(values.dir);
  const agent = await startAgent({
    node: values.node,
    apiSocket: paths.apiSocket(values.node),
    httpPort: 80,
    apiPort: NODE_API_PORT,
    ...(values['service-address'] ? { serviceAddress: hostPort(values['service-address']) } : {}),
    log,
  });
  writeFileSync(paths.agentReady(values.node), String(process.pid));
  const stop = () => {
    log.info('stopping');
    void agent.stop().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`node-agent: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
