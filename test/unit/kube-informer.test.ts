import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock, flushPromises } from '../../kube/clock.js';
import { Informer, type ListerWatcher, objectKey, splitKey, type WatchEvent } from '../../kube/informer.js';
import { ApiStatusError } from '../../kube/rest.js';

type Obj = KubernetesObject;
const obj = (name: string, rv: string, namespace?: string): Obj => ({
  metadata: { name, namespace, resourceVersion: rv },
});

/** A scripted API: lists return `objects`; each watch stays open until ended by the test. */
class FakeLW implements ListerWatcher<Obj> {
  objects: Obj[] = [];
  listRV = '10';
  listCalls = 0;
  listError?: Error;
  watches: Array<{
    rv: string;
    emit: (ev: WatchEvent<Obj>) => void;
    end: (err?: Error) => void;
    signal: AbortSignal;
  }> = [];

  async list(_signal: AbortSignal, each: (o: Obj) => Obj = (o) => o) {
    this.listCalls++;
    if (this.listError) throw this.listError;
    return { items: this.objects.map(each), resourceVersion: this.listRV };
  }

  watch(rv: string, signal: AbortSignal, onEvent: (ev: WatchEvent<Obj>) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const end = (err?: Error) => (err ? reject(err) : resolve());
      signal.addEventListener('abort', () => resolve(), { once: true });
      this.watches.push({
        rv,
        signal,
        end,
        emit: (ev) => {
          try {
            onEvent(ev);
          } catch (err) {
            reject(err);
          }
        },
      });
    });
  }

  get current() {
    return this.watches[this.watches.length - 1]!;
  }
}

/** Waits for the first list, then lets the informer open its watch. */
async function synced(inf: Informer<Obj>) {
  expect(await inf.waitForSync()).toBe(true);
  await flushPromises();
}

function setup(resyncPeriodMs = 0) {
  const clock = new FakeClock();
  const lw = new FakeLW();
  const inf = new Informer<Obj>({ name: 'test', listerWatcher: lw, clock, resyncPeriodMs });
  const keys: string[] = [];
  inf.onChange((k) => keys.push(k));
  const ctl = new AbortController();
  return { clock, lw, inf, keys, ctl };
}

describe('objectKey / splitKey', () => {
  it('uses ns/name for namespaced and name for cluster-scoped objects', () => {
    expect(objectKey(obj('a', '1', 'ns'))).toBe('ns/a');
    expect(objectKey(obj('pool', '1'))).toBe('pool');
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(splitKey('pool')).toEqual({ namespace: '', name: 'pool' });
  });
});

describe('Informer', () => {
  it('lists, syncs, then applies watch events, handing out only keys', async () => {
    const { lw, inf, keys, ctl } = setup();
    lw.objects = [obj('a', '1', 'ns'), obj('b', '2')];
    expect(inf.hasSynced()).toBe(false);
    inf.start(ctl.signal);
    expect(await inf.waitForSync()).toBe(true);
    await flushPromises();
    expect(keys.sort()).toEqual(['b', 'ns/a']);
    expect(lw.current.rv).toBe('10');
    keys.length = 0;
    lw.current.emit({ type: 'ADDED', object: obj('c', '11') });
    lw.current.emit({ type: 'MODIFIED', object: obj('b', '12') });
    lw.current.emit({ type: 'MODIFIED', object: obj('b', '12') }); // same version: no news
    lw.current.emit({ type: 'DELETED', object: obj('a', '13', 'ns') });
    lw.current.emit({ type: 'BOOKMARK', object: obj('', '14') });
    expect(keys).toEqual(['c', 'b', 'ns/a']);
    expect(inf.get('ns/a')).toBeUndefined();
    expect(inf.get('b')?.metadata?.resourceVersion).toBe('12');
    expect(inf.keys().sort()).toEqual(['b', 'c']);
    expect(inf.lastSyncResourceVersion()).toBe('14');
    await inf.stop();
  });

  it('rewatches from the last resourceVersion when the server ends the stream', async () => {
    const { clock, lw, inf, ctl } = setup();
    inf.start(ctl.signal);
    await synced(inf);
    lw.current.emit({ type: 'ADDED', object: obj('a', '20') });
    await clock.advance(5000);
    lw.current.end();
    await flushPromises();
    expect(lw.watches.map((w) => w.rv)).toEqual(['10', '20']);
    expect(lw.listCalls).toBe(1);
    await inf.stop();
  });

  it('relists at once on 410 Expired and announces only changed or vanished keys', async () => {
    const { clock, lw, inf, keys, ctl } = setup();
    lw.objects = [obj('a', '1'), obj('b', '2'), obj('c', '3')];
    inf.start(ctl.signal);
    await synced(inf);
    keys.length = 0;
    lw.objects = [obj('a', '1'), obj('b', '5'), obj('d', '6')];
    lw.listRV = '30';
    await clock.advance(2000);
    lw.current.emit({ type: 'ERROR', object: { kind: 'Status', code: 410 } as unknown as Obj });
    await flushPromises();
    expect(lw.listCalls).toBe(2);
    expect(keys.sort()).toEqual(['b', 'c', 'd']);
    expect(inf.keys().sort()).toEqual(['a', 'b', 'd']);
    expect(lw.current.rv).toBe('30');
    await inf.stop();
  });

  it('backs off (bounded) and relists after errors, then recovers', async () => {
    const { clock, lw, inf, ctl } = setup();
    lw.listError = new ApiStatusError(503, { message: 'unavailable' });
    inf.start(ctl.signal);
    await flushPromises();
    const times: number[] = [];
    const t0 = clock.now();
    for (let i = 0; i < 12; i++) {
      const before = lw.listCalls;
      while (lw.listCalls === before) await clock.advance(100);
      times.push(clock.now() - t0);
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 4)).toEqual([400, 800, 1600, 3200]);
    expect(Math.max(...gaps)).toBe(30_000); // capped
    expect(inf.hasSynced()).toBe(false);
    lw.listError = undefined;
    await clock.advance(30_000);
    expect(inf.hasSynced()).toBe(true);
    // A failing watch relists too.
    const lists = lw.listCalls;
    await clock.advance(5000);
    lw.current.end(new Error('ECONNRESET'));
    await clock.advance(200);
    expect(lw.listCalls).toBe(lists + 1);
    await inf.stop();
  });

  it('resync hands every key to the handlers periodically', async () => {
    const { clock, lw, inf, keys, ctl } = setup(60_000);
    lw.objects = [obj('a', '1'), obj('b', '1')];
    inf.start(ctl.signal);
    await synced(inf);
    keys.length = 0;
    await clock.advance(60_000);
    expect(keys.sort()).toEqual(['a', 'b']);
    await inf.stop();
  });

  it('a throwing handler does not break the cache', async () => {
    const { lw, inf, ctl } = setup();
    inf.onChange(() => {
      throw new Error('bug');
    });
    lw.objects = [obj('a', '1')];
    inf.start(ctl.signal);
    await synced(inf);
    lw.current.emit({ type: 'ADDED', object: obj('b', '11') });
    expect(inf.keys().sort()).toEqual(['a', 'b']);
    await inf.stop();
  });

  it('stops cleanly: aborts the watch and leaves no timers; waitForSync resolves false', async () => {
    const { clock, lw, inf, ctl } = setup(1000);
    lw.listError = new Error('down');
    inf.start(ctl.signal);
    const waiting = inf.waitForSync();
    await flushPromises();
    ctl.abort();
    await inf.stop();
    expect(await waiting).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
    // And with an open watch:
    const s = setup(1000);
    s.inf.start(s.ctl.signal);
    await synced(s.inf);
    await s.inf.stop();
    expect(s.lw.current.signal.aborted).toBe(true);
    expect(s.clock.pendingTimers()).toBe(0);
  });

  it('stores what the transform returns, for listed and watched objects alike', async () => {
    const clock = new FakeClock();
    const lw = new FakeLW();
    const trim = (o: Obj): Obj => ({ metadata: { ...o.metadata, managedFields: undefined } });
    const inf = new Informer<Obj>({ name: 'test', listerWatcher: lw, clock, transform: trim });
    const fat = (name: string, rv: string): Obj => ({
      metadata: { name, resourceVersion: rv, managedFields: [{ manager: 'kubectl' }] },
    });
    lw.objects = [fat('a', '1')];
    inf.start(new AbortController().signal);
    await synced(inf);
    lw.current.emit({ type: 'ADDED', object: fat('b', '11') });
    expect(inf.get('a')?.metadata?.managedFields).toBeUndefined();
    expect(inf.get('b')?.metadata?.managedFields).toBeUndefined();
    expect(inf.get('b')?.metadata?.resourceVersion).toBe('11');
    await inf.stop();
  });
});
