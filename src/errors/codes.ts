/**
 * The registry of every `PLX_…` error code that crosses the wire.
 *
 * Codes are stable: once published a code is never renamed or reused for another
 * meaning. Each code has one row in `docs/errors.md` (a test keeps the two in sync).
 */
export const errorCodes = {
  // --- generic request validation ---
  PLX_BAD_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  PLX_VALIDATION: { status: 400, message: 'The request does not match the schema.' },
  PLX_NOT_FOUND: { status: 404, message: 'No such resource.' },
  PLX_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than the limit.' },
  PLX_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The content type is not accepted here.' },
  PLX_RATE_LIMITED: { status: 429, message: 'Too many requests; slow down.' },
  PLX_INTERNAL: { status: 500, message: 'An unexpected error occurred on the server.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;
