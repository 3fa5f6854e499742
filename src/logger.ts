import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Creates a namespaced logger. Secrets never go in log fields: keystore passwords,
 * private keys and signatures over challenges are redacted by path as a second line of defence.
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
    pino.destination({ dest: opts.destination ?? 2, sync: true }),
  );
}
