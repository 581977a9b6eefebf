// What the image's entry script does with its arguments, as a pure decision: no I/O, so a
// table test covers every case (test/unit/image-route.test.ts).
import { PROGRAMS, type ProgramName } from './programs.js';

export type Route =
  | { kind: 'version' }
  | { kind: 'help' }
  | { kind: 'usage'; message: string }
  | { kind: 'absent'; program: ProgramName }
  /** Import the program's main in this process, its argv being `args`. */
  | { kind: 'run'; program: ProgramName; main: string; args: string[] }
  /** This Node lacks flags the program needs: start Node again with `nodeFlags`. */
  | { kind: 'reexec'; program: ProgramName; main: string; args: string[]; nodeFlags: string[] };

export function route(
  argv: readonly string[],
  execArgv: readonly string[],
  built: (main: string) => boolean,
): Route {
  const [first, ...args] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help')
    return { kind: 'help' };
  if (first === '--version' || first === 'version') return { kind: 'version' };
  if (!(first in PROGRAMS)) return { kind: 'usage', message: `unknown command ${JSON.stringify(first)}` };
  const program = first as ProgramName;
  const { main, nodeFlags } = PROGRAMS[program];
  if (!built(main)) return { kind: 'absent', program };
  const lacking = nodeFlags.filter((f) => !execArgv.includes(f));
  if (lacking.length === 0) return { kind: 'run', program, main, args };
  return { kind: 'reexec', program, main, args, nodeFlags: [...execArgv, ...lacking] };
}

export function helpText(version: string): string {
  const width = Math.max(...Object.keys(PROGRAMS).map((n) => n.length));
  const lines = Object.entries(PROGRAMS).map(([name, p]) => `  ${name.padEnd(width)}  ${p.summary}`);
  return [
    `heraldlb ${version}: a layer-2 load balancer for bare-metal Kubernetes`,
    '',
    'usage: heraldlb <command> [flags]',
    '',
    'commands:',
    ...lines,
    '',
    '  --version  print the heraldlb and Node.js versions',
    "  --help     this text; `heraldlb <command> --help` lists the command's flags",
    '',
  ].join('\n');
}
