/**
 * Hold-down: a node whose speaker just became live waits `ms` before it wins IPs, so a node
 * that flaps (or reboots and rejoins) does not pull IPs back and forth. Pure: time is passed in
 * (monotonic ms); the tracker only remembers what it was shown.
 *
 * Exported API:
 *   class HoldDown {
 *     constructor(ms = 3000, opts?: { self?: string })
 *     observe(live, now): void           the live set as membership sees it at `now`
 *     inHoldDown(now): ReadonlySet<string>
 *     nextChange(now): number | undefined   when inHoldDown next changes (for a timer)
 *   }
 *
 * A node enters hold-down when it is first seen or seen live again after having been seen dead,
 * and leaves it `ms` later. chooseOwner skips nodes in hold-down unless every eligible node is
 * in it, so hold-down never delays a failover.
 *
 * `self` (the local node's name; recommended): the local node is new at start, but the peers it
 * finds while its own hold-down runs are taken as established, not new. They have been live
 * for longer, as far as this speaker can tell, and that is how they see each other too. Without
 * it, a restarted speaker sees every node as new, ranks them all (the all-in-hold-down rule)
 * and claims the IPs it wins while its peers, which hold it down, keep announcing them: two
 * announcers for `ms` after every speaker restart. With it, a restarted speaker announces
 * nothing for `ms` unless it alone is eligible. (A whole cluster cold-started within `ms`: each
 * node defers to the others, so an IP may go unannounced for at most `ms`.)
 */
export class HoldDown {
  // node -> when its hold-down ends; holds exactly the nodes live at the last observe()
  private readonly until = new Map<string, number>();
  // peers met while our own start-up hold-down ran; only kept during it
  private readonly metAtStart = new Set<string>();
  private startedAt: number | undefined;

  constructor(
    private readonly ms = 3000,
    /**
     * `selfExtraMs`: our own hold-down lasts this much longer than the `ms` we give others.
     * Peers start our clock only when they first hear us (after our heartbeats start and one
     * round trip), later than we start it; without the margin a restarted speaker would
     * resume its IPs a few hundred ms before its peers release them (two answering).
     */
    private readonly opts: { readonly self?: string; readonly selfExtraMs?: number } = {},
  ) {}

  observe(live: ReadonlySet<string>, now: number): void {
    if (this.startedAt === undefined) this.startedAt = now;
    const starting = this.opts.self !== undefined && now < this.startedAt + this.ms;
    if (!starting) this.metAtStart.clear();
    for (const n of live) {
      if (this.until.has(n)) continue;
      const established = starting && n !== this.opts.self && !this.metAtStart.has(n);
      const extra = n === this.opts.self ? (this.opts.selfExtraMs ?? 0) : 0;
      this.until.set(n, established ? now : now + this.ms + extra);
      if (starting) this.metAtStart.add(n);
    }
    for (const n of this.until.keys()) if (!live.has(n)) this.until.delete(n);
  }

  inHoldDown(now: number): ReadonlySet<string> {
    const out = new Set<string>();
    for (const [n, t] of this.until) if (t > now) out.add(n);
    return out;
  }

  nextChange(now: number): number | undefined {
    let next: number | undefined;
    for (const t of this.until.values()) if (t > now && (next === undefined || t < next)) next = t;
    return next;
  }
}
