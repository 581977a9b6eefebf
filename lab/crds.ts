// Installs the CRDs of `crds/` (the single source of truth) into the lab's API server.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { sleep } from './procs.js';

/** The repository (or installed package) root, from source (`lab/`) or compiled (`dist/lab/`). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4 && !existsSync(join(dir, 'package.json')); i++) dir = resolve(dir, '..');
  return dir;
}

export function crdFiles(dir = join(packageRoot(), 'crds')): string[] {
  // No CRDs would leave every test and the lab without validation: never silently.
  if (!existsSync(dir)) throw new Error(`no CRD directory at ${dir}`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Creates or replaces each CRD and waits (bounded) until it is Established; returns names. */
export async function applyCrds(kc: KubeConfig, files = crdFiles()): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  const failures: string[] = [];
  let firstErr: unknown;
  for (const file of files) {
    // loadYaml, not a plain parse: client-node drops `x-kubernetes-*` keys it did not map.
    const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(file, 'utf8'));
    const name = crd.metadata?.name ?? '';
    try {
      await applyOne(api, crd, name);
      names.push(name);
    } catch (err) {
      firstErr ??= err;
      failures.push(`${file}: ${statusMessage(err)}`);
    }
  }
  if (failures.length)
    throw new Error(`CRDs not installed:\n  ${failures.join('\n  ')}`, { cause: firstErr });
  return names;
}

/** The `message` of an API Status in an error body, else the error's own message. */
function statusMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (err as Error).message;
}

async function applyOne(
  api: ApiextensionsV1Api,
  crd: V1CustomResourceDefinition,
  name: string,
): Promise<void> {
  try {
    const cur = await api.readCustomResourceDefinition({ name });
    crd.metadata = { ...crd.metadata, resourceVersion: cur.metadata?.resourceVersion };
    await api.replaceCustomResourceDefinition({ name, body: crd });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await api.createCustomResourceDefinition({ body: crd });
  }
  for (let i = 0; ; i++) {
    const cur = await api.readCustomResourceDefinition({ name });
    if (cur.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    if (i >= 300) throw new Error(`CRD ${name} not Established after 30 s`);
    await sleep(100);
  }
}
