// The logger shape kube/ modules accept: pino's, so main.ts passes `root.child({ component })`.
import { type Logger as PinoLogger, pino } from 'pino';

export type Logger = PinoLogger;

/** A logger that drops everything: the default when none is injected (tests, libraries). */
export function silentLogger(): Logger {
  return pino({ enabled: false });
}
