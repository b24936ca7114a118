import { pino, destination, type Logger } from 'pino';

/**
 * Structured JSON logs to stderr (stdout stays free for command output such as `meridian plan`).
 * MERIDIAN_LOG_LEVEL overrides the level; tests set it to `silent`.
 */
export function createLogger(name: string, level = process.env.MERIDIAN_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, destination({ fd: 2, sync: false }));
}

export type { Logger };
