/**
 * Drives `dist/bench/link-agent.js` inside a network namespace from the link test and the
 * `arp` bench: a
 * Node process cannot enter a namespace itself, so the LinkSocket lives in a child
 * started with `ip netns exec`. Events are the agent's JSON lines, in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../speaker/link.js';

export type AgentEvent = { ev: string; [k: string]: unknown };

export const agentScript = (): string => join(packageRoot(), 'dist', 'bench', 'link-agent.js');

export class LinkAgent {
  readonly events: AgentEvent[] = [];
  private readonly proc: ChildProcess;
  private readonly waiters = new Set<() => void>();
  private stderr = '';

  constructor(netns: string, args: string[], node = process.execPath) {
    const script = agentScript();
    if (!existsSync(script)) throw new Error(`${script} missing: run \`npm run build\``);
    this.proc = spawn('ip', ['netns', 'exec', netns, node, script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      this.events.push(JSON.parse(line) as AgentEvent);
      for (const w of this.waiters) w();
    });
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.proc.on('exit', () => {
      for (const w of this.waiters) w();
    });
  }

  command(cmd: object): void {
    this.proc.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  /** The first event at or after index `from` matching `pred`, within `timeoutMs`. */
  waitFor(pred: (e: AgentEvent) => boolean, timeoutMs = 5000, from = 0): Promise<AgentEvent> {
    return new Promise((resolve, reject) => {
      let next = from; // events before `next` were already checked
      const check = (): void => {
        let hit: AgentEvent | undefined;
        for (; next < this.events.length && hit === undefined; next++)
          if (pred(this.events[next] as AgentEvent)) hit = this.events[next];
        if (hit) done(() => resolve(hit));
        else if (this.proc.exitCode !== null)
          done(() => reject(new Error(`agent exited (${this.proc.exitCode}): ${this.stderr}`)));
      };
      const timer = setTimeout(
        () =>
          done(() => reject(new Error(`no matching agent event in ${timeoutMs} ms; stderr: ${this.stderr}`))),
        timeoutMs,
      );
      const done = (f: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.command({ op: 'exit' });
    this.proc.stdin?.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
