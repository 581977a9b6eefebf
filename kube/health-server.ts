// The health and metrics endpoint both programs expose: /metrics, /healthz (the process
// answers), /readyz (the supplied check says the program can do its job).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import { CONTENT_TYPE, type Registry } from './metrics.js';

export interface HealthServerOptions {
  port: number; // 0 = any free port (tests)
  host?: string;
  registry: Registry;
  /** Readiness; a string result is a reason for not being ready. */
  ready?: () => boolean | string;
  logger?: Logger;
}

export class HealthServer {
  private server?: http.Server;
  private readonly log: Logger;

  constructor(private readonly o: HealthServerOptions) {
    this.log = o.logger ?? silentLogger();
  }

  /** Listens; resolves with the bound port. Aborting `signal` closes the server. */
  async start(signal: AbortSignal): Promise<number> {
    if (this.server) throw new KubeError('ALREADY_STARTED', 'health server started twice');
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new KubeError('LISTEN', `cannot listen on ${this.o.port}`, err)));
      server.listen(this.o.port, this.o.host ?? '0.0.0.0', () => resolve());
    });
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    try {
      const [status, body, type] = this.route(req.method ?? 'GET', path);
      this.send(res, status, body, type);
    } catch (err) {
      this.log.error({ err, path }, 'health endpoint failed');
      this.send(res, 500, 'internal error\n');
    }
  }

  // path -> [status, body, content type]
  private route(method: string, path: string): [number, string, string?] {
    if (method !== 'GET' && method !== 'HEAD') return [405, 'method not allowed\n'];
    if (path === '/metrics') return [200, this.o.registry.render(), CONTENT_TYPE];
    if (path === '/healthz' || path === '/livez') return [200, 'ok\n'];
    if (path !== '/readyz') return [404, 'not found\n'];
    const r = this.o.ready ? this.o.ready() : true;
    if (r === true) return [200, 'ok\n'];
    return [503, `not ready${typeof r === 'string' ? `: ${r}` : ''}\n`];
  }

  private send(
    res: http.ServerResponse,
    status: number,
    body: string,
    type = 'text/plain; charset=utf-8',
  ): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/** "host:port" or "[v6]:port" -> [host, port]; empty -> loopback, any port (tests). */
export function splitHostPort(addr: string): [string, number] {
  if (!addr) return ['127.0.0.1', 0];
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return [host, Number(addr.slice(i + 1))];
}
