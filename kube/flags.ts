/**
 * Flags and environment -> raw values, shared by both programs so they behave alike: every flag
 * has an environment twin, flags win over the environment, `--name=value` and `--name value`
 * both work, a bad flag is a UsageError naming it (main exits 2). Pure: argv and env come in.
 */

export interface FlagSpec {
  name: string;
  env: string;
  help: string;
  kind: 'string' | 'bool' | 'int' | 'duration';
  def: string;
  /** Inclusive bounds: of an int flag (default 1..256); of a duration in ms (default 100 ms..60 m). */
  range?: [number, number];
}

export class UsageError extends Error {
  readonly code = 'USAGE';
}

export type FlagValue = string | boolean | number;

export function helpText(program: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map(
    (f) => `  --${f.name.padEnd(28)} ${f.help} (env ${f.env}; default ${f.def || 'empty'})`,
  );
  return [`Usage: ${program} [flags]`, '', ...lines, `  ${'--help'.padEnd(30)} this text`, ''].join('\n');
}

/** "15s", "500ms", "2m" -> ms; undefined when it is not a duration. */
export function parseDuration(raw: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(raw.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm']);
}

/** ms -> the shortest of "250ms", "15s", "60m" that is exact. */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function convert(f: FlagSpec, raw: string): FlagValue {
  if (f.kind === 'bool') {
    if (['true', '1', 'yes', ''].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    throw new UsageError(`--${f.name}: expected true or false, got "${raw}"`);
  }
  if (f.kind === 'int') {
    const n = Number(raw);
    const [lo, hi] = f.range ?? [1, 256];
    if (raw.trim() === '' || !Number.isInteger(n) || n < lo || n > hi)
      throw new UsageError(`--${f.name}: expected ${lo}..${hi}, got "${raw}"`);
    return n;
  }
  if (f.kind === 'duration') {
    const [lo, hi] = f.range ?? [100, 3_600_000];
    const ms = raw.trim() === '0' ? 0 : parseDuration(raw);
    if (ms === undefined || ms < lo || ms > hi)
      throw new UsageError(
        `--${f.name}: expected a duration from ${formatDuration(lo)} to ${formatDuration(hi)} such as 15s or 500ms, got "${raw}"`,
      );
    return ms;
  }
  return raw;
}

/**
 * Returns 'help' when --help was asked for, else a getter of each flag's converted value.
 * Every value is converted (so a bad environment value fails too, naming its flag).
 */
export function parseFlags(
  specs: readonly FlagSpec[],
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): 'help' | ((name: string) => FlagValue) {
  const raw = new Map<string, string>(); // flag name -> raw text
  for (const f of specs) raw.set(f.name, env[f.env] ?? f.def);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const spec = m ? specs.find((f) => f.name === m[1]) : undefined;
    if (!m || !spec) throw new UsageError(`unknown argument "${arg}" (see --help)`);
    let value = m[2];
    if (value === undefined && spec.kind !== 'bool') {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${spec.name} needs a value`);
    }
    raw.set(spec.name, value ?? 'true');
  }
  const values = new Map<string, FlagValue>(); // flag name -> converted value
  for (const f of specs) values.set(f.name, convert(f, raw.get(f.name) ?? ''));
  return (name) => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`no flag --${name}`);
    return v;
  };
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function checkLogLevel(level: string): void {
  if (!LOG_LEVELS.includes(level))
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join('|')}, got "${level}"`);
}
