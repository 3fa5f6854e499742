import { type ErrorCode, errorCodes } from './codes.ts';

export type PlexusErrorOptions = {
  /** Machine-readable context for the caller (never secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
};

/**
 * The one base error of Plexus: a stable `PLX_…` code, the HTTP status that goes with
 * it, a short message, optional details, a link to the docs and a cause chain.
 *
 * @example
 * throw new PlexusError('PLX_NOT_FOUND', 'job 0x12… does not exist', { details: { jobId } });
 */
export class PlexusError extends Error {
  override name = 'PlexusError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly docsPath: string;

  constructor(code: ErrorCode, message?: string, options: PlexusErrorOptions = {}) {
    super(message ?? errorCodes[code].message, options.cause === undefined ? {} : { cause: options.cause });
    this.code = code;
    this.status = errorCodes[code].status;
    this.details = options.details;
    this.docsPath = `docs/errors.md#${code.toLowerCase()}`;
  }

  /** The JSON body sent to clients. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** True when `err` is a PlexusError carrying `code` (or any code when omitted). */
export function isPlexusError(err: unknown, code?: ErrorCode): err is PlexusError {
  return err instanceof PlexusError && (code === undefined || err.code === code);
}
