// One lab command at a time on this machine (`up`, `down`, node actions): a lock file next
// to the lab dir holding the owner's pid. A lock whose owner died (kill -9) is taken over.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { alive, sleep } from './procs.js';

export async function withLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const file = `${dir}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; ; i++) {
    // link() is atomic and fails if the lock exists, so a reader never sees it half-written.
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, String(process.pid));
    try {
      linkSync(tmp, file);
      rmSync(tmp, { force: true });
      break;
    } catch (err) {
      rmSync(tmp, { force: true });
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(file, 'utf8').trim());
      } catch {
        continue; // released in between: try again
      }
      if (!alive(owner)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline || i > 10_000) {
        throw new Error(`another lab command (pid ${owner}) holds ${file}; waited ${timeoutMs / 1000} s`);
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
