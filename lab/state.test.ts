import { describe, expect, it } from 'vitest';
import { nextReadyCondition, nodeAddresses, STATUS_REFRESH_MS } from './nodes.js';
import { mentionsDir } from './procs.js';
import { initialState, labPaths, parseState, readyDecision, withNodeWish } from './state.js';
import { planTopology } from './topology.js';

describe('state', () => {
  const s = initialState('/tmp/lab', ['node1', 'node2'], false);

  it('starts with every node wanted Ready', () => {
    expect(s.nodes).toEqual({
      node1: { ready: true, partitioned: false, killed: false },
      node2: { ready: true, partitioned: false, killed: false },
    });
    expect(s.complete).toBe(false);
  });

  it('withNodeWish bumps the generation and never mutates its input', () => {
    const before = JSON.stringify(s);
    const t = withNodeWish(s, 'node2', { ready: false });
    expect(JSON.stringify(s)).toBe(before);
    expect(t.generation).toBe(s.generation + 1);
    expect(t.nodes.node2).toEqual({ ready: false, partitioned: false, killed: false });
    expect(t.nodes.node1).toEqual(s.nodes.node1);
    expect(() => withNodeWish(s, 'node9', { ready: false })).toThrow(/no node node9/);
  });

  it('parseState round-trips and rejects foreign files', () => {
    expect(parseState(JSON.stringify(s))).toEqual(s);
    expect(() => parseState('{"version":99}')).toThrow(/version/);
    expect(() => parseState('{"version":1}')).toThrow(/lacks/);
  });

  it('paths live inside the lab dir', () => {
    const p = labPaths('/tmp/lab');
    for (const x of [
      p.state,
      p.logs,
      p.kubeconfig,
      p.nodeKubeconfig,
      p.apiSocket('node1'),
      p.log('keeper'),
    ]) {
      expect(x.startsWith('/tmp/lab/')).toBe(true);
    }
  });
});

describe('readyDecision', () => {
  const ok = { ready: true, partitioned: false, killed: false };
  it.each([
    ['ready', ok, 0, { beat: true, status: 'True' }],
    ['notready', { ...ok, ready: false }, 0, { beat: true, status: 'False' }],
    ['killed, within grace', { ...ok, killed: true }, 9_999, { beat: false }],
    ['killed, grace over', { ...ok, killed: true }, 10_000, { beat: false, status: 'Unknown' }],
    ['partitioned, grace over', { ...ok, partitioned: true }, 60_000, { beat: false, status: 'Unknown' }],
    ['notready and partitioned', { ready: false, partitioned: true, killed: false }, 1, { beat: false }],
  ])('%s', (_name, wish, sinceBeat, want) => {
    expect(readyDecision(wish, 1_000, 1_000 + sinceBeat, 10_000)).toEqual(want);
  });
});

describe('nextReadyCondition', () => {
  const now = new Date('2026-01-01T00:10:00Z');
  const ready = (beatAgo: number) => ({
    type: 'Ready',
    status: 'True',
    reason: 'KubeletReady',
    lastHeartbeatTime: new Date(now.getTime() - beatAgo),
    lastTransitionTime: new Date('2026-01-01T00:00:00Z'),
  });

  it('writes nothing when unchanged and fresh, refreshes a stale heartbeat', () => {
    expect(nextReadyCondition(ready(1000), 'True', now)).toBeUndefined();
    const next = nextReadyCondition(ready(STATUS_REFRESH_MS), 'True', now);
    expect(next?.lastHeartbeatTime).toEqual(now);
    expect(next?.lastTransitionTime).toEqual(new Date('2026-01-01T00:00:00Z'));
  });

  it('a flip moves the transition time; Unknown keeps the last heartbeat', () => {
    expect(nextReadyCondition(ready(1000), 'False', now)).toMatchObject({
      status: 'False',
      reason: 'LabNodeNotReady',
      lastTransitionTime: now,
    });
    const unknown = nextReadyCondition(ready(1000), 'Unknown', now);
    expect(unknown).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(unknown?.lastHeartbeatTime).toEqual(new Date(now.getTime() - 1000));
    expect(nextReadyCondition(unknown, 'Unknown', new Date(now.getTime() + 3_600_000))).toBeUndefined();
  });

  it('creates the condition on a fresh node', () => {
    expect(nextReadyCondition(undefined, 'True', now)).toMatchObject({
      status: 'True',
      lastTransitionTime: now,
    });
  });

  it('node addresses: InternalIPs then Hostname', () => {
    const h = planTopology({ nodes: 1, ipv6: true }).nodes[0]!;
    expect(nodeAddresses(h)).toEqual([
      { type: 'InternalIP', address: '192.0.2.11' },
      { type: 'InternalIP', address: '2001:db8:1::11' },
      { type: 'Hostname', address: 'node1' },
    ]);
  });
});

describe('mentionsDir', () => {
  it.each([
    [['node', 'x.js', '--dir', '/tmp/lab'], true],
    [['etcd', '--data-dir=/tmp/lab/cp/etcd'], true],
    [['x', '--kubeconfig', '/tmp/lab/kubeconfig'], true],
    [['x', '--dir', '/tmp/lab-bench'], false],
    [['x', '/tmp/labx/y'], false],
  ])('%j -> %s', (args, want) => {
    expect(mentionsDir(args, '/tmp/lab')).toBe(want);
  });
});
