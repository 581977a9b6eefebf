/**
 * The one benchmark entry: `npm run bench` runs every registered bench, `npm run bench -- NAME…`
 * only those. Each bench returns Markdown for docs/benchmarks.md. To add one, register a
 * name and a lazy loader below (lazy, so one bench's imports never slow or break another).
 */
const BENCHES: Record<string, () => Promise<string>> = {
  allocator: async () => (await import('./allocator.bench.js')).benchAllocator(),
  controller: async () => (await import('./controller.bench.js')).benchController(),
  'control-plane': async () => (await import('./control-plane.bench.js')).benchControlPlane(),
  membership: async () => (await import('./membership.bench.js')).benchMembership(),
  arp: async () => (await import('./arp-reply.bench.js')).benchArp(),
  replan: async () => (await import('./replan.bench.js')).benchReplan(),
  speaker: async () => (await import('./speaker.bench.js')).benchSpeaker(),
};

async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((a) => !(a in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`);
    return 2;
  }
  let failed = 0;
  for (const name of args.length > 0 ? args : Object.keys(BENCHES)) {
    try {
      process.stdout.write(`\n## ${name}\n\n${await (BENCHES[name] as () => Promise<string>)()}\n`);
    } catch (err) {
      failed++;
      process.stderr.write(
        `bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
      );
    }
  }
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
