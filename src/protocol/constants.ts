/** Protocol-wide defaults. Changing one is a protocol change: document it in docs/protocol.md. */
/**
 * 2: providers sign a commitment to each output before revealing it, and answer capability-proof
 * challenges. Coordinators still accept v1 agents (their results are committed on their behalf).
 * 3: a provider sees opaque per-assignment ids only: `assign` carries no job id, and its `taskId`
 * is the assignment's own id (src/protocol/taskRef.ts), which commitments, results and failure
 * reports are signed over. v1/v2 agents keep working unchanged: they echo the `taskId` they were
 * sent; a statement signed over a real task id is refused (PLX_TASK_REF_MISMATCH).
 */
export const PROTOCOL_VERSION = 3;

/** A signed message older or newer than this (by its `issuedAt`) is refused as stale. */
export const MAX_MESSAGE_SKEW_SEC = 300;

/** Largest blob accepted by a coordinator by default (models and tensor files). */
export const DEFAULT_MAX_BLOB_BYTES = 512 * 1024 * 1024;

/** Largest JSON body accepted by the HTTP API. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Largest WebSocket message from a provider. */
export const MAX_WS_MESSAGE_BYTES = 256 * 1024;

/**
 * Most content ids one provider may advertise as cached (its auth's `cached` plus later `cache`
 * messages): more is refused with PLX_CACHE_LIMIT_EXCEEDED (a strike). The scheduler uses the set
 * only to prefer providers that hold a task's model; a cache of the default 10 GiB holds tens of
 * models and, at most, a few thousand recent inputs. The bound keeps what one session costs the
 * coordinator small: each cid is an entry in the scheduler's index (about 200 bytes), and every
 * lease or release of the provider re-publishes its load in the heap of each cid it caches, so a
 * lease change costs O(MAX_ADVERTISED_CACHE · log n) heap work (review s12 F1: an unbounded set,
 * 3,500 new cids per message, froze the coordinator for seconds per message). The agent stays
 * within it (src/provider/agent/cacheAdvert.ts).
 */
export const MAX_ADVERTISED_CACHE = 4096;

/**
 * Largest task output a provider may send inside its signed result message (base64 in `output`)
 * instead of uploading it first: one WebSocket message where a tiny output cost an HTTP request, a
 * second signature recovery and a reply. The coordinator says so in `welcome`
 * (`inlineOutputBytes`); an agent uploads anything larger, and everything to a coordinator that
 * does not say so.
 */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024;

/**
 * Largest task input a coordinator sends inside the assignment (base64 in `inputBytes`), so the
 * provider skips the download: for tiny inputs the request, its lease check and its reply cost the
 * coordinator more than the bytes. An older agent ignores the field and downloads as before.
 */
export const INLINE_INPUT_MAX_BYTES = 64 * 1024;

/** Most inputs (and so tasks) in one job. */
export const MAX_INPUTS_PER_JOB = 10_000;

/**
 * The furthest a job's deadline may be from its submission: 7 days (PLX_DEADLINE_TOO_FAR beyond).
 * An audited job's unchecked outputs are billed when it ends (docs/market.md, "Deferred bills"),
 * and its worst case stays reserved until then: neither may wait without bound.
 */
export const MAX_JOB_DEADLINE_SEC = 7 * 86_400;

/** Attempts per task before the job fails. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** How long a provider may work on one task before its lease expires. */
export const DEFAULT_TASK_TIMEOUT_SEC = 120;

/** After a provider disconnects, its leases are cut to this, so work moves on quickly. */
export const DISCONNECT_GRACE_SEC = 10;

/**
 * The client's cap per resource unit when the SDK or CLI is given none: 0.01 PLX (10^16 base units;
 * PLX has 18 decimals). Signed inside every job submission.
 */
export const DEFAULT_MAX_PRICE_PER_UNIT = 10n ** 16n;
