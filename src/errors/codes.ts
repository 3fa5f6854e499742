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
  // --- provider side (tensors, models, keystore, cache) ---
  PLX_BAD_TENSOR_FILE: { status: 400, message: 'The tensor file is not a valid safetensors file.' },
  PLX_BAD_MODEL: { status: 400, message: 'The model is not a loadable ONNX model.' },
  PLX_INPUT_MISMATCH: { status: 400, message: "The input tensors do not match the model's inputs." },
  PLX_KEYSTORE_PASSWORD: { status: 401, message: 'The keystore password is wrong or missing.' },
  PLX_KEYSTORE_INVALID: {
    status: 400,
    message: 'The keystore file is corrupt or not a Web3 Secret Storage v3 file.',
  },
  PLX_BLOB_DIGEST_MISMATCH: { status: 400, message: 'The blob content does not hash to its content id.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;
