/** Row types of blob tables kept apart from schema.ts (which is at the file-size limit). */

/** A blob's bytes in the shared store, chunk `idx` of 1 MiB (replicas on PostgreSQL: sharedBlobs.ts). */
export type BlobChunksTable = { cid: string; idx: number; data: Uint8Array };

/**
 * A blob a provider uploaded under its session key (0064): the bytes went through the coordinator's
 * hash, so the provider holds them. A result may name as its output only a blob its provider
 * uploaded (work/results.ts), and an output counts as a task's for reads only when the provider of
 * one of its executions uploaded it (blobs/blobAccess.ts); collected with the blob.
 */
export type ProviderUploadsTable = { cid: string; provider: string; created_at: number };

/**
 * Balances kept as postings are appended (0065, ledger/ledgerBalances.ts): the sum of an account's
 * postings of one epoch (`closing` 1: of the kinds only closing an epoch posts), and of all epochs
 * (`epoch` -1, `closing` 0). Exact decimal base units as text. Lists read these instead of summing
 * the whole journal (security review s10 F3).
 */
export type LedgerBalancesTable = { account: string; epoch: number; closing: number; balance: string };
