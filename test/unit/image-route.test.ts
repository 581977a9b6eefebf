import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { imageEntrypoint, PROGRAMS, sharedNodeFlags } from '../../image/programs.js';
import { route } from '../../image/route.js';

const all = () => true;
const FLAGS = ['--optimize-for-size'];

describe('the image entry script decides', () => {
  it.each([
    { argv: [], want: { kind: 'help' } },
    { argv: ['--help'], want: { kind: 'help' } },
    { argv: ['-h'], want: { kind: 'help' } },
    { argv: ['--version'], want: { kind: 'version' } },
    { argv: ['version'], want: { kind: 'version' } },
    { argv: ['proxy'], want: { kind: 'usage', message: 'unknown command "proxy"' } },
    { argv: ['--kubeconfig=x'], want: { kind: 'usage', message: 'unknown command "--kubeconfig=x"' } },
    {
      argv: ['controller', '--help'],
      want: { kind: 'run', program: 'controller', main: 'controller/main.js', args: ['--help'] },
    },
    {
      argv: ['speaker', '--node-name', 'n1'],
      want: { kind: 'run', program: 'speaker', main: 'speaker/main.js', args: ['--node-name', 'n1'] },
    },
    // a program's own --version/--help go to the program, not to the entry script
    {
      argv: ['controller', '--version'],
      want: { kind: 'run', program: 'controller', main: 'controller/main.js', args: ['--version'] },
    },
  ])('$argv', ({ argv, want }) => {
    expect(route(argv, FLAGS, all)).toEqual(want);
  });

  it('says a program is absent when its main was not built', () => {
    expect(route(['speaker'], FLAGS, (m) => m !== 'speaker/main.js')).toEqual({
      kind: 'absent',
      program: 'speaker',
    });
  });

  it('re-executes Node when the flags it was started with lack one the program needs', () => {
    expect(route(['controller', '-v'], ['--inspect'], all)).toEqual({
      kind: 'reexec',
      program: 'controller',
      main: 'controller/main.js',
      args: ['-v'],
      nodeFlags: ['--inspect', ...PROGRAMS.controller.nodeFlags],
    });
  });
});

describe('Node flags', () => {
  it('the shared ones are those every program lists', () => {
    const p = (nodeFlags: string[]) => ({ main: 'm', summary: '', nodeFlags });
    expect(sharedNodeFlags([p(['-a', '-b']), p(['-b', '-c'])])).toEqual(['-b']);
    expect(sharedNodeFlags([p(['-a'])])).toEqual(['-a']);
    expect(sharedNodeFlags([])).toEqual([]);
  });

  it("image/Dockerfile's ENTRYPOINT is Node with the shared flags and the entry script", () => {
    const dockerfile = readFileSync(new URL('../../image/Dockerfile', import.meta.url), 'utf8');
    const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
    expect(JSON.parse(line?.slice('ENTRYPOINT '.length) ?? 'null')).toEqual(imageEntrypoint());
  });

  it('the controller is started with the flags the lab and benchmark use', () => {
    expect(PROGRAMS.controller.nodeFlags).toContain('--optimize-for-size');
  });
});
