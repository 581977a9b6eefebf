import { describe, expect, it } from 'vitest';
import { parseLdd } from '../../image/libs.js';

// `ldd` of the official Node 24 build on Debian 12 (x86-64), verbatim.
const NODE24 = `	linux-vdso.so.1 (0x00007f2bb5280000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f2bb526a000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2bb5000000)
	libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f2bb4f20000)
	libgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f2bb524a000)
	libpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f2bb5245000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2bb4d3e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f2bb5282000)
`;

describe('parseLdd', () => {
  it('lists every file the loader maps, the interpreter included, sorted, without the vDSO', () => {
    expect(parseLdd(NODE24)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/x86_64-linux-gnu/libdl.so.2',
      '/lib/x86_64-linux-gnu/libgcc_s.so.1',
      '/lib/x86_64-linux-gnu/libm.so.6',
      '/lib/x86_64-linux-gnu/libpthread.so.0',
      '/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('an arm64 binary names its own loader', () => {
    const out =
      '\tlinux-vdso.so.1 (0x0000ffff8a5f0000)\n\tlibc.so.6 => /lib/aarch64-linux-gnu/libc.so.6 (0x0000ffff8a400000)\n\t/lib/ld-linux-aarch64.so.1 (0x0000ffff8a5b3000)\n';
    expect(parseLdd(out)).toEqual(['/lib/aarch64-linux-gnu/libc.so.6', '/lib/ld-linux-aarch64.so.1']);
  });

  it('a missing library stops the build, since the image would not start', () => {
    expect(() => parseLdd('\tlibfoo.so.1 => not found\n')).toThrow(/not found/);
  });

  it('a static binary needs nothing', () => {
    expect(parseLdd('\tstatically linked\n')).toEqual([]);
  });

  it('an unexpected line is an error, not a silently shorter list', () => {
    expect(() => parseLdd('\tsomething else\n')).toThrow(/unexpected line/);
  });
});
