import { type ErrorCode, errorCodes } from './codes.ts';
import { PlexusError } from './PlexusError.ts';

/**
 * Turns a non-2xx coordinator response into the PlexusError it describes, keeping the server's
 * code, message and details (an unknown code becomes PLX_INTERNAL with the original in details).
 *
 * @example if (!res.ok) throw await errorFromResponse(res);
 */
export async function errorFromResponse(res: Response): Promise<PlexusError> {
  return errorFromBody(res.status, await res.text());
}

/**
 * {@link errorFromResponse} for a response already read as text (node:http clients).
 *
 * @example if (status >= 300) throw errorFromBody(status, text);
 */
export function errorFromBody(status: number, text: string): PlexusError {
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string; details?: Record<string, unknown> };
    };
    const code = body.error?.code;
    if (code && code in errorCodes) {
      return new PlexusError(
        code as ErrorCode,
        body.error?.message,
        body.error?.details ? { details: body.error.details } : {},
      );
    }
  } catch {
    // not JSON: fall through
  }
  return new PlexusError('PLX_INTERNAL', `HTTP ${status}: ${text.slice(0, 300)}`, {
    details: { status },
  });
}
