import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { refuseOrWarn } from './prerequisites.js';

/** The chart under test. */
export const CHART_DIR = resolve(import.meta.dirname, '..', '..', 'charts', 'heraldlb');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A Kubernetes object as `helm template` prints it. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

/**
 * The helm binary named by $HERALDLB_HELM (`.ci/run` sets it from `lab/bin/build-helm.sh`),
 * run with its own config, cache and data directories so tests never read or write the user's.
 */
export class Helm {
  private constructor(
    readonly binary: string,
    private readonly home: string,
  ) {}

  /** The helm of this run, or undefined after a loud skip message (a failure under CI=true). */
  static forTests(tier: string): Helm | undefined {
    const binary = process.env.HERALDLB_HELM ?? '';
    const problems: string[] = [];
    if (!binary) {
      problems.push('HERALDLB_HELM is not set (export HERALDLB_HELM="$(bash lab/bin/build-helm.sh)")');
    } else {
      try {
        accessSync(binary, constants.X_OK);
      } catch {
        problems.push(`HERALDLB_HELM=${binary} is not an executable file`);
      }
    }
    if (!refuseOrWarn(tier, problems)) return undefined;
    return new Helm(binary, mkdtempSync(join(tmpdir(), 'heraldlb-helm-')));
  }

  /** Removes helm's config, cache and data directories of this run. */
  dispose(): void {
    rmSync(this.home, { recursive: true, force: true });
  }

  private env(kubeconfig?: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: this.home,
      HELM_CONFIG_HOME: join(this.home, 'config'),
      HELM_CACHE_HOME: join(this.home, 'cache'),
      HELM_DATA_HOME: join(this.home, 'data'),
    };
    if (kubeconfig) env.KUBECONFIG = kubeconfig;
    return env;
  }

  run(args: readonly string[], kubeconfig?: string): HelmResult {
    const r = spawnSync(this.binary, args, { env: this.env(kubeconfig), encoding: 'utf8', timeout: 120_000 });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * Like run(), but asynchronous, so a test can watch the cluster while helm waits
   * (`--wait` on an install or a rolling upgrade); never rejects, the exit code is the answer.
   */
  start(args: readonly string[], kubeconfig: string, timeoutMs = 600_000): Promise<HelmResult> {
    return new Promise((res) => {
      execFile(
        this.binary,
        [...args],
        { env: this.env(kubeconfig), timeout: timeoutMs, maxBuffer: 8 << 20 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          res({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  /** Like run(), but a non-zero exit throws with helm's own message. */
  ok(args: readonly string[], kubeconfig?: string): string {
    const r = this.run(args, kubeconfig);
    if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** `helm template` of the chart with these extra arguments, as objects. */
  template(args: readonly string[] = [], namespace = 'heraldlb-system'): RenderedObject[] {
    return parseObjects(this.ok(['template', 'heraldlb', CHART_DIR, '--namespace', namespace, ...args]));
  }
}

export function parseObjects(text: string): RenderedObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null);
}

/** The one object of this kind and name; throws naming what is there when it is missing. */
export function find(objs: readonly RenderedObject[], kind: string, name: string): RenderedObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o)
    throw new Error(`no ${kind} ${name}; have ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}
