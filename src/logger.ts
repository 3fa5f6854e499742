import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Where log lines go: JSON lines for machines (a pipe, a file, journald, the devnet's parent), or
 * pino-pretty's readable lines when a person watches a terminal. `PLEXUS_LOG_FORMAT=json|pretty`
 * overrides the guess.
 */
function destination(fd: number): DestinationStream {
  const format = process.env.PLEXUS_LOG_FORMAT;
  const pretty = format === 'pretty' || (format !== 'json' && isatty(fd));
  if (pretty) {
    // Loaded only on a terminal: services and child processes never pay for it.
    const build = createRequire(import.meta.url)('pino-pretty') as (
      o: Record<string, unknown>,
    ) => DestinationStream;
    return build({
      destination: fd,
      sync: true,
      colorize: true,
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname',
    });
  }
  return pino.destination({ dest: fd, sync: true });
}

/**
 * Creates a namespaced logger: readable lines on a terminal, JSON otherwise. Secrets never go in
 * log fields: keystore passwords, private keys and signatures over challenges are redacted by path
 * as a second line of defence.
 *
 * @example
 * const log = createLogger('coordinator', { level: 'info' });
 */
export function createLogger(name: string, opts: { level?: string; destination?: number } = {}): Logger {
  return pino(
    {
      name,
      level: opts.level ?? process.env.PLEXUS_LOG_LEVEL ?? 'info',
      redact: {
        paths: ['password', '*.password', 'privateKey', '*.privateKey', 'keystorePassword'],
        censor: '[redacted]',
      },
    },
    destination(opts.destination ?? 2),
  );
}
