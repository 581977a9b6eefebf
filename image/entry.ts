#!/usr/bin/env node
/**
 * heraldlb: the container image's one entry point. The ENTRYPOINT is Node with the flags
 * both programs share, then this script, which picks the program from the first argument.
 * Only this file does I/O; the decision is route.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { helpText, route } from './route.js';

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

async function main(): Promise<number | undefined> {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..');
  const version = (JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
  const r = route(process.argv.slice(2), process.execArgv, (main) => existsSync(join(dist, main)));
  switch (r.kind) {
    case 'help':
      process.stdout.write(helpText(version));
      return 0;
    case 'version':
      process.stdout.write(
        `heraldlb ${version} (Node.js ${process.version}, ${process.platform}/${process.arch})\n`,
      );
      return 0;
    case 'usage':
      process.stderr.write(`heraldlb: ${r.message}\n${helpText(version)}`);
      return 2;
    case 'absent':
      process.stderr.write(`heraldlb: the ${r.program} is not part of this build\n`);
      return 2;
    case 'reexec': {
      // Replace this process (same pid, so signals and the exit code stay the runtime's):
      // Node 23.11+ has process.execve; the image runs Node 24.
      const execve = (process as unknown as { execve?: Execve }).execve;
      if (!execve) {
        process.stderr.write(`heraldlb: start Node with ${r.nodeFlags.join(' ')} to run the ${r.program}\n`);
        return 2;
      }
      return execve(
        process.execPath,
        [process.execPath, ...r.nodeFlags, join(dist, r.main), ...r.args],
        process.env,
      );
    }
    case 'run':
      // The program reads process.argv.slice(2) as its own flags, as when started directly.
      process.argv = [process.argv[0] ?? process.execPath, join(dist, r.main), ...r.args];
      // From here the program owns the process and its exit code.
      await import(pathToFileURL(join(dist, r.main)).href);
      return undefined;
  }
}

main().then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`heraldlb: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
