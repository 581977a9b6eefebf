#!/usr/bin/env node
// A client that measures outages the way a user feels them: a fresh TCP connection and one HTTP
// request every --interval-ms, each with a short deadline (a reused connection, or TCP's 1 s SYN
// retransmit, would hide or stretch the gap). Run inside the client namespace by the demo, the
// e2e tests and the benchmark; prints one JSON object: every attempt's start time (ms, this
// epoch, comparable with Date.now() of the process that caused the outage), whether it succeeded and which node answered.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Attempt {
  t: number;
  ok: boolean;
  node?: string;
}

function attempt(url: string, timeoutMs: number): Promise<Omit<Attempt, 't'>> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Omit<Attempt, 't'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => finish({ ok: res.statusCode === 200, node: body.trim() }));
      res.on('error', () => finish({ ok: false }));
    });
    req.on('error', () => finish({ ok: false }));
    const timer = setTimeout(() => finish({ ok: false }), timeoutMs);
  });
}

/** Attempts until `durationMs` passed; at most `durationMs / intervalMs + 1` of them. */
export async function probe(
  url: string,
  intervalMs: number,
  timeoutMs: number,
  durationMs: number,
): Promise<Attempt[]> {
  const out: Attempt[] = [];
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i <= Math.ceil(durationMs / intervalMs); i++) {
    const t = performance.now();
    if (t - start > durationMs) break;
    inflight.push(
      attempt(url, timeoutMs).then((r) => {
        out.push({ t: Math.round((performance.timeOrigin + t) * 10) / 10, ...r });
      }),
    );
    const next = start + (i + 1) * intervalMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inflight);
  return out.sort((a, b) => a.t - b.t);
}

/**
 * The outage caused at or after `atMs` (epoch ms): the first failed attempt after it, back to
 * the last success before that failure, forward to the first success after it (ms). 0 when
 * nothing failed after `atMs`; undefined when service never came back.
 */
export function outageMs(attempts: readonly Attempt[], atMs: number): number | undefined {
  const firstFail = attempts.find((a) => !a.ok && a.t >= atMs);
  if (!firstFail) return 0;
  const before = attempts.filter((a) => a.ok && a.t < firstFail.t).at(-1);
  const after = attempts.find((a) => a.ok && a.t > firstFail.t);
  if (!after) return undefined;
  return Math.round((after.t - (before?.t ?? firstFail.t)) * 10) / 10;
}

/** The probe's arguments, the same wherever it runs (a netns, a container). */
export function probeArgs(url: string, durationMs: number, intervalMs = 20, timeoutMs = 100): string[] {
  return [
    ...['--url', url, '--interval-ms', String(intervalMs)],
    ...['--timeout-ms', String(timeoutMs), '--duration-ms', String(durationMs)],
  ];
}

/** The attempts a probe run printed. */
export function parseProbe(stdout: string): Attempt[] {
  return (JSON.parse(stdout) as { attempts: Attempt[] }).attempts;
}

async function main(): Promise<void> {
  const args = new Map<string, string>();
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2)
    args.set((argv[i] as string).replace(/^--/, ''), argv[i + 1] as string);
  const url = args.get('url');
  if (!url) {
    process.stderr.write(
      'usage: probe --url URL [--interval-ms 20] [--timeout-ms 100] [--duration-ms 5000]\n',
    );
    process.exitCode = 2;
    return;
  }
  const attempts = await probe(
    url,
    Number(args.get('interval-ms') ?? 20),
    Number(args.get('timeout-ms') ?? 100),
    Math.min(600_000, Number(args.get('duration-ms') ?? 5000)),
  );
  process.stdout.write(`${JSON.stringify({ attempts })}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) void main();
