import { describe, expect, it } from 'vitest';
import { errnoName, type LinkAddon, LinkError, loadLinkAddon, openLink } from '../../speaker/link.js';

/** An addon double that records calls; `fail` makes open throw like the C side does. */
function fakeAddon(fail?: { errno: number; syscall: string }) {
  const calls: string[] = [];
  let deliver: ((frames: Buffer[]) => void) | undefined;
  const addon: LinkAddon = {
    open(ifname, onFrames) {
      if (fail) throw Object.assign(new Error(`${fail.syscall}: boom`), fail);
      calls.push(`open ${ifname}`);
      deliver = onFrames;
      return { handle: {}, ifindex: 7 };
    },
    send: (_h, f) => void calls.push(`send ${f.length}`),
    sendBatch: (_h, fs) => {
      calls.push(`batch ${fs.length}`);
      return fs.length;
    },
    stats: () => ({ received: 1, dropped: 0, sent: 2 }),
    close: () => void calls.push('close'),
  };
  return { addon, calls, deliver: (frames: Buffer[]) => deliver?.(frames) };
}

describe('openLink over an addon double', () => {
  it('names the errno and the interface when open fails', () => {
    const { addon } = fakeAddon({ errno: 19, syscall: 'if_nametoindex' });
    expect(() => openLink('eth9', () => {}, { addon })).toThrow(
      expect.objectContaining({ code: 'ENODEV', message: expect.stringContaining('eth9') }),
    );
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(123456)).toBe('ERRNO_123456');
  });

  it('checks frame sizes before the addon sees them', () => {
    const { addon, calls } = fakeAddon();
    const link = openLink('eth0', () => {}, { addon });
    expect(link.ifindex).toBe(7);
    for (const bad of [Buffer.alloc(13), Buffer.alloc(1519)])
      expect(() => link.send(bad)).toThrow(expect.objectContaining({ code: 'ERR_LINK_FRAME_SIZE' }));
    expect(() => link.sendBatch([Buffer.alloc(60), Buffer.alloc(2)])).toThrow(LinkError);
    link.send(Buffer.alloc(14));
    expect(link.sendBatch([Buffer.alloc(60), Buffer.alloc(1518)])).toBe(2);
    expect(calls).toEqual(['open eth0', 'send 14', 'batch 2']);
  });

  it('delivers every frame of a batch even when a handler call throws, then rethrows the first error', () => {
    const { addon, deliver } = fakeAddon();
    const seen: number[] = [];
    openLink(
      'eth0',
      (f) => {
        seen.push(f.length);
        if (f.length === 20) throw new Error('handler bug');
      },
      { addon },
    );
    expect(() => deliver([Buffer.alloc(20), Buffer.alloc(21), Buffer.alloc(22)])).toThrow('handler bug');
    expect(seen).toEqual([20, 21, 22]);
  });

  it('after close: no delivery, sends refused, stats frozen, close idempotent', () => {
    const { addon, calls, deliver } = fakeAddon();
    const seen: Buffer[] = [];
    const link = openLink('eth0', (f) => seen.push(f), { addon });
    link.close();
    link.close();
    deliver([Buffer.alloc(42)]);
    expect(seen).toEqual([]);
    expect(() => link.send(Buffer.alloc(42))).toThrow(expect.objectContaining({ code: 'ERR_LINK_CLOSED' }));
    expect(link.stats()).toEqual({ received: 1, dropped: 0, sent: 2 });
    expect(calls.filter((c) => c === 'close')).toHaveLength(1);
  });

  it('says to run build:native when no addon exists under the root', () => {
    expect(() => loadLinkAddon('/nonexistent-root')).toThrow(
      expect.objectContaining({
        code: 'ERR_LINK_ADDON_MISSING',
        message: expect.stringContaining('npm run build:native'),
      }),
    );
  });
});
