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
  PLX_REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request body did not arrive in time (slower than the minimum rate).',
  },
  // --- identity and signed messages ---
  PLX_BAD_SIGNATURE: { status: 401, message: 'The signature does not check out for the claimed signer.' },
  PLX_STALE_MESSAGE: { status: 401, message: 'The signed message is too old or from the future.' },
  PLX_REPLAY: { status: 409, message: 'This signed message (nonce) was already used.' },
  PLX_UNAUTHORIZED: { status: 401, message: 'The session is not authenticated.' },
  PLX_CACHE_LIMIT_EXCEEDED: {
    status: 413,
    message: 'The provider would advertise more cached blobs than the coordinator tracks per session.',
  },
  // --- blobs ---
  PLX_BAD_CID: { status: 400, message: 'A content id must be 64 lowercase hex characters (sha256).' },
  PLX_DIGEST_MISMATCH: { status: 400, message: 'The uploaded bytes do not hash to the content id given.' },
  PLX_UNKNOWN_BLOB: { status: 400, message: 'The request names a blob the coordinator does not hold.' },
  PLX_OUTPUT_NOT_UPLOADED: {
    status: 400,
    message: 'A result names an output its provider did not upload (or one the coordinator does not hold).',
  },
  PLX_AUTH_REQUIRED: {
    status: 401,
    message: 'The request needs a signed x-plexus-auth header (BlobUpload, BlobRead or JobRead).',
  },
  PLX_BLOB_FORBIDDEN: { status: 403, message: 'The signer may not upload or read this blob.' },
  PLX_BLOB_QUOTA_EXCEEDED: { status: 403, message: "The upload would exceed the account's blob quota." },
  // --- jobs and tasks ---
  PLX_UNSUPPORTED_JOB_KIND: { status: 400, message: 'The coordinator does not run this kind of job.' },
  PLX_DEADLINE_PASSED: { status: 400, message: 'The job deadline is already in the past.' },
  PLX_DEADLINE_TOO_FAR: { status: 400, message: 'The job deadline is more than 7 days away.' },
  PLX_JOB_NOT_FINISHED: { status: 409, message: 'The job has not finished yet.' },
  PLX_TASK_FAILED: { status: 422, message: 'A task failed on every attempt; the job failed.' },
  PLX_DEADLINE_EXCEEDED: { status: 422, message: 'The job did not finish before its deadline.' },
  PLX_TASK_RUNTIME_ERROR: {
    status: 422,
    message: 'The runtime failed while running the task on the provider.',
  },
  PLX_LEASE_EXPIRED: {
    status: 408,
    message: 'The provider did not return a result before its lease expired.',
  },
  PLX_LEASE_LOST: { status: 409, message: 'The provider reconnected without the task it was leased.' },
  PLX_JOB_CANCELLED: { status: 409, message: 'The job failed or was cancelled, so its other tasks stopped.' },
  PLX_STALE_ASSIGNMENT: { status: 409, message: 'The assignment is no longer leased to this provider.' },
  PLX_TASK_REF_MISMATCH: {
    status: 409,
    message: 'A task statement must name the task by its assignment id (protocol v3), not a task id.',
  },
  PLX_INTERNAL: { status: 500, message: 'An unexpected error occurred on the server.' },

  // --- verification (src/coordinator/verification): commit–reveal rules ---
  PLX_VERIFICATION_NOT_ASSIGNED: { status: 403, message: 'This provider is not assigned to the task.' },
  PLX_VERIFICATION_COMMIT_CLOSED: {
    status: 409,
    message: 'The commit phase of this task is closed; commitments come before any reveal.',
  },
  PLX_VERIFICATION_REVEAL_TOO_EARLY: {
    status: 409,
    message: 'Reveals open only after every assigned provider has committed.',
  },
  PLX_VERIFICATION_DUPLICATE: { status: 409, message: 'This provider already committed or revealed.' },
  PLX_REVEAL_MISMATCH: {
    status: 409,
    message: "The reveal does not open the provider's own signed commitment.",
  },
  PLX_CAPABILITY_UNKNOWN: { status: 404, message: 'No open capability challenge has this id.' },
  // --- verification wired into the work loop (job failure reasons) ---
  PLX_TASK_DISPUTED: {
    status: 422,
    message: 'Verification reached no strict majority within the execution cap; the job failed.',
  },
  PLX_NO_GROUND_TRUTH: {
    status: 422,
    message:
      'Verification needed a trusted provider to break a disagreement and none took the task before the deadline; nobody was slashed and the task was not charged.',
  },
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
  // --- on-chain layer (src/chain) ---
  PLX_CHAIN_REVERT: {
    status: 409,
    message: 'A Plexus contract rejected the transaction; see details.errorName and details.args.',
  },
  // --- participant CLI (src/cli) ---
  PLX_STORE_UNSUPPORTED: {
    status: 501,
    message: 'This feature does not run on the coordinator store in use (PostgreSQL) yet.',
  },
  PLX_UPSTREAM_UNAVAILABLE: {
    status: 502,
    message: 'The coordinator or chain RPC endpoint did not answer, or answered something unusable.',
  },
  PLX_USAGE: {
    status: 400,
    message: 'The command line is wrong (unknown option, missing or invalid value).',
  },
  PLX_FILE_NOT_FOUND: { status: 400, message: 'A file or folder named on the command line does not exist.' },
  PLX_NOT_INSTALLED: {
    status: 500,
    message: 'A package this command needs is not installed (a development dependency).',
  },
  PLX_KEYSTORE_MISSING: {
    status: 404,
    message: 'No key file where one was expected; read-only commands never create keys.',
  },
  PLX_INSUFFICIENT_GAS: {
    status: 402,
    message: 'The account has not enough ETH to pay for the transaction gas.',
  },
  // --- market, ledger and settlement (src/coordinator/market, src/coordinator/ledger, src/coordinator/settlement) ---
  PLX_INSUFFICIENT_ESCROW: {
    status: 402,
    message: "The client's available escrow does not cover the job's worst-case cost.",
  },
  PLX_RESPONSE_TOO_LARGE: {
    status: 502,
    message:
      'A coordinator answered with more bytes than the reader accepts (evidence, a blob, a claim); the transfer was cut off.',
  },
  PLX_CHAIN_UNAVAILABLE: {
    status: 503,
    message: 'The chain RPC could not be reached to check escrow; try again shortly.',
  },
  PLX_LEDGER_UNBALANCED: { status: 500, message: 'A ledger entry does not balance; nothing was written.' },
  PLX_EPOCH_CONFIG: {
    status: 400,
    message: "The coordinator's epoch length or validator keys do not match the deployment.",
  },
  PLX_EPOCH_REOPEN: {
    status: 409,
    message: 'The epoch cannot be reopened, or its re-close would post different ledger entries.',
  },
  PLX_EPOCH_CLOSE_BUSY: {
    status: 503,
    message: "An epoch's close waited past its lock timeout on every try; settlement tries again.",
  },
  // --- sensor network (src/sensors, docs/sensors.md) ---
  PLX_SENSOR_UNKNOWN_DEVICE: {
    status: 404,
    message: 'The device is not registered; its owner must register it first.',
  },
  PLX_SENSOR_DEVICE_TAKEN: { status: 409, message: 'The device is registered to another owner.' },
  PLX_SENSOR_OWNER_NOT_PROVIDER: {
    status: 403,
    message: 'The owner of a device must be a provider registered on chain.',
  },
  PLX_SENSOR_RATE_LIMITED: {
    status: 429,
    message: 'The device sent more readings than its rate limit allows; retry after details.retryAfterMs.',
  },
  PLX_SENSOR_BUSY: {
    status: 503,
    message: 'The ingest queue is full (backpressure); retry after details.retryAfterMs.',
  },
  PLX_SENSOR_COST_ABOVE_MAX: {
    status: 402,
    message: 'The dataset costs more than the maxCost the client signed.',
  },
  PLX_SENSOR_DATASET_TOO_LARGE: {
    status: 413,
    message: 'The query matches more readings than one request may return; narrow it.',
  },
  // --- collaborative training (train.diloco, docs/training.md) ---
  PLX_TRAIN_MODEL_INVALID: {
    status: 400,
    message: 'The training model is not a TF.js Layers topology this network can train.',
  },
  PLX_TRAIN_WEIGHTS_MISMATCH: { status: 400, message: "The weights do not match the model's layers." },
  PLX_TRAIN_SHARD_INVALID: { status: 400, message: 'A training shard is not safetensors with x and y.' },
  PLX_TRAIN_BACKEND_UNSUPPORTED: {
    status: 400,
    message: 'The job pins a TF.js backend or release this network does not train with.',
  },
  PLX_TRAIN_AGGREGATION_INVALID: {
    status: 400,
    message: "The job's aggregation rule cannot run on its number of workers.",
  },
  PLX_TRAIN_BACKEND_MISMATCH: {
    status: 409,
    message: "The provider's TF.js backend or release differs from the one the training job pins.",
  },
  // --- storage network (issue 19, docs/storage.md) ---
  PLX_STORAGE_NO_SPACE: {
    status: 507,
    message: 'The disk has less free space than the provider offers to the storage network.',
  },
  PLX_STORAGE_FULL: { status: 507, message: "The provider's storage offer has no room for the piece." },
  PLX_STORAGE_PIECE_INVALID: {
    status: 422,
    message: 'A piece does not match the Merkle root recorded for it.',
  },
  PLX_STORAGE_UNAVAILABLE: {
    status: 503,
    message: 'Not enough healthy pieces of the object could be fetched right now.',
  },
  PLX_STORAGE_NO_CAPACITY: {
    status: 503,
    message: 'Fewer storage providers are online than the object needs distinct holders.',
  },
  PLX_STORAGE_NOT_OWNER: { status: 403, message: 'The object belongs to another client.' },
  PLX_STORAGE_READ_LIMIT: {
    status: 429,
    message: "A reader other than the object's owner was served as much of it as the owner pays for.",
  },
  PLX_STORAGE_TOKEN_INVALID: {
    status: 401,
    message: 'The storage token is unknown, expired or not for this piece.',
  },
  PLX_STORAGE_NO_DIRECT: {
    status: 404,
    message: 'No connected holder of the piece serves it directly; fetch it through the relay.',
  },
  PLX_STORAGE_UNSIGNED: {
    status: 409,
    message:
      'The object was stored before signed puts: only its owner reads it until the owner puts it again.',
  },
  PLX_STORAGE_SERVE_ADDRESS: {
    status: 400,
    message:
      'The serve address is not one readers may be sent to (http(s)://HOST:PORT with a public IP host, or a local network).',
  },
  PLX_STORAGE_SERVER_UNPROVEN: {
    status: 502,
    message: 'A direct piece answer is not signed by the holder the coordinator named for its ticket.',
  },
  PLX_STORAGE_RECEIPT_REQUIRED: {
    status: 402,
    message: 'The piece server served this reader a piece it has not signed a receipt for yet.',
  },
  PLX_STORAGE_PRICE_ABOVE_MAX: {
    status: 402,
    message: 'Storage costs more per GiB-epoch than the client signed as its maximum.',
  },
  PLX_STORAGE_SHAPE_INVALID: {
    status: 400,
    message: 'The erasure shape is out of bounds: needs 1 <= M <= K and K + M <= 32.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCodes;
