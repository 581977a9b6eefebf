// A directory tree made reproducible and summarised: every mtime set to one instant (the
// commit's), and one digest over names, types, modes and contents in sorted order, which
// keys the image cache (same tree, same Dockerfile, same tools: reuse the last image).
import { createHash } from 'node:crypto';
import { lstatSync, lutimesSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Every entry below `root` (not `root` itself), parents before children, sorted by name. */
export function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    out.push(path);
    if (lstatSync(join(root, path)).isDirectory()) out.push(...walk(root, path));
  }
  return out;
}

export function setMtimes(root: string, epochSeconds: number): void {
  // Children first would not matter for files, but a directory's mtime changes when its
  // entries do, so set them all after the tree is complete; symlinks themselves, not targets.
  for (const path of [...walk(root), '']) lutimesSync(join(root, path), epochSeconds, epochSeconds);
}

export function treeDigest(root: string): string {
  const h = createHash('sha256');
  for (const path of walk(root)) {
    const st = lstatSync(join(root, path));
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) h.update(`d ${mode} ${path}\n`);
    else if (st.isSymbolicLink()) h.update(`l ${path} -> ${readlinkSync(join(root, path))}\n`);
    else if (st.isFile()) {
      const sum = createHash('sha256')
        .update(readFileSync(join(root, path)))
        .digest('hex');
      h.update(`f ${mode} ${st.size} ${sum} ${path}\n`);
    } else throw new Error(`unexpected file type at ${path}`, { cause: { code: 'EFILETYPE' } });
  }
  return h.digest('hex');
}
