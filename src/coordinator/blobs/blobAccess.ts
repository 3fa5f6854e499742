/**
 * Who may upload and who may read a blob (docs/security.md, "Who can read what"; issue 16 items 5
 * and 8). Every check is a few indexed SQLite lookups through the store's raw connection.
 */
import type { Kysely } from 'kysely';
import type { Address, Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { parseBlobAuth, verifyPlexusMessage } from '../../protocol/eip712.ts';
import type { Store } from '../store/openStore.ts';
import { rawStatement } from '../store/rawStatement.ts';
import type { Database } from '../store/schema.ts';
import { READ_TOKEN_PREFIX, type ReadCapabilities } from './readCapability.ts';

/** Per-account blob quota: bytes and number of blobs an account may keep stored. */
export type BlobQuota = { bytes: number; count: number };

/** Default quota: 10 GiB in at most 50,000 blobs per uploading account. */
export const DEFAULT_BLOB_QUOTA: BlobQuota = { bytes: 10 * 1024 ** 3, count: 50_000 };

export type BlobAccess = {
  /**
   * Checks a signed upload before any byte is read: the `x-plexus-auth` header (EIP-712
   * `BlobUpload` over this cid and `size`), that the signer may upload (a known provider key, or a
   * client with escrow where the coordinator has a chain) and, for clients, that the blob fits the
   * account's quota (counting uploads in flight). Returns the uploader and a `done` to call once
   * the upload ended (recorded when it stored the blob).
   */
  authorizeUpload(
    header: string | undefined,
    cid: string,
    size: number,
  ): Promise<{ account: string; done(stored?: { cid: string; size: number }): Promise<void> }>;
  /**
   * Checks that the request may read blob `cid`: anyone for data of a public job; otherwise a
   * signed `BlobRead` by the uploader, by the client of the job whose accepted output it is, by a
   * provider holding a lease on a task that needs it (job or canary — a review lease of a caught
   * provider's training update reads its source task's blobs, work/reviewLeases.ts; or the lease token of that
   * assignment instead of a signature), or by an account the `canRead` hook admits (validators).
   * PLX_AUTH_REQUIRED without a signature, PLX_BLOB_FORBIDDEN when the signer has no right.
   */
  authorizeRead(header: string | undefined, cid: string): Promise<void>;
};

/**
 * Builds the blob access rules over the store's raw statements (store/rawStatement.ts).
 *
 * @example
 * const access = createBlobAccess({ store, db, chainId: 31337, quota: DEFAULT_BLOB_QUOTA });
 * const { done } = await access.authorizeUpload(req.headers['x-plexus-auth'], cid, size);
 */
export function createBlobAccess(deps: {
  store: Pick<Store, 'db' | 'raw'>;
  db: Kysely<Database>;
  chainId: number;
  quota: BlobQuota;
  /** With a chain: whether a client (not a provider) may upload at all (it has escrow). */
  mayUpload?: (account: Address) => Promise<boolean>;
  /**
   * With a chain: whether a known provider key is staked (only a staked provider uploads free of
   * quota; anyone can complete a session challenge with a fresh key). Absent: every known provider.
   */
  isStaked?: (account: string) => boolean;
  /**
   * The validators' hook (a later issue): return true to let `account` read `cid` (for instance a
   * validator re-checking an epoch's sampled tasks). Absent: nobody beyond the rules above.
   */
  canRead?: (account: string, cid: string) => boolean | Promise<boolean>;
  /** Lease tokens the coordinator hands providers with each assignment (readCapability.ts). */
  readTokens?: ReadCapabilities;
  now?: () => number;
}): BlobAccess {
  const q = (text: string) => rawStatement(deps.store, text);
  const now = deps.now ?? Date.now;
  const isProvider = q('SELECT 1 FROM providers WHERE address = ?');
  const usage = q(
    'SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS count FROM blob_uploads WHERE account = ?',
  );
  const owns = q('SELECT 1 FROM blob_uploads WHERE cid = ? AND account = ?');
  // Written through Kysely, which waits for any transaction in progress on the shared connection
  // (a raw write would join that transaction, and vanish if it rolled back).
  const record = (cid: string, account: string, size: number) =>
    deps.db
      .insertInto('blob_uploads')
      .values({ cid, account, size, created_at: now() })
      .onConflict((oc) => oc.columns(['cid', 'account']).doUpdateSet({ created_at: now() }))
      .execute();
  // A provider's upload: no quota, but a record that it holds the bytes (results.ts).
  const recordProvider = (cid: string, provider: string) =>
    deps.db
      .insertInto('provider_uploads')
      .values({ cid, provider, created_at: now() })
      .onConflict((oc) => oc.columns(['cid', 'provider']).doUpdateSet({ created_at: now() }))
      .execute();
  // A job's model or input counts as the job's only when its client uploaded it: naming someone
  // else's cid in a job (the explorer lists cids) must not open it to that job's client, its
  // providers or, with `public`, everyone. A blob nobody uploaded (stored by the coordinator
  // itself, or before uploads were recorded) goes with any job that names it.
  const clientsBlob = `(EXISTS (SELECT 1 FROM blob_uploads u WHERE u.cid = :cid AND u.account = j.client)
     OR NOT EXISTS (SELECT 1 FROM blob_uploads u WHERE u.cid = :cid))`;
  // A task's output counts as the task's (for its client and, with `public`, everyone) only when
  // the provider of one of the task's executions uploaded those bytes (or the job's client did, or
  // nobody did: an output sent inside its result): a result naming another blob's cid must not
  // open it (security review s10 F1; results.ts refuses such a result in the first place).
  const providersOutput = `(EXISTS (SELECT 1 FROM task_executions e WHERE e.task_id = t.id AND e.output_cid = :cid
         AND (EXISTS (SELECT 1 FROM provider_uploads pu WHERE pu.cid = :cid AND pu.provider = e.provider)
           OR EXISTS (SELECT 1 FROM blob_uploads u WHERE u.cid = :cid AND u.account = e.provider)))
     OR EXISTS (SELECT 1 FROM blob_uploads u WHERE u.cid = :cid AND u.account = j.client)
     OR (NOT EXISTS (SELECT 1 FROM blob_uploads u WHERE u.cid = :cid)
       AND NOT EXISTS (SELECT 1 FROM provider_uploads pu WHERE pu.cid = :cid)))`;
  const publicBlob = q(
    `SELECT 1 FROM jobs j WHERE json_extract(j.spec, '$.model') = :cid
         AND CAST(json_extract(j.spec, '$.public') AS INTEGER) = 1 AND ${clientsBlob}
       UNION ALL
       SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.output_cid = :cid AND CAST(json_extract(j.spec, '$.public') AS INTEGER) = 1
          AND ${providersOutput}
       UNION ALL
       SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.input_cid = :cid AND CAST(json_extract(j.spec, '$.public') AS INTEGER) = 1 AND ${clientsBlob}
       LIMIT 1`,
  );
  const clientsOutput = q(
    `SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.output_cid = :cid AND j.client = :account AND ${providersOutput}
       UNION ALL
       SELECT 1 FROM output_revocations r JOIN jobs j ON j.id = r.job_id
        WHERE r.replacement_cid = :cid AND j.client = :account
       UNION ALL
       SELECT 1 FROM train_blobs b JOIN jobs j ON j.id = b.job_id
        WHERE b.cid = :cid AND b.role IN ('weights', 'final') AND j.client = :account AND ${clientsBlob}
       LIMIT 1`,
  );
  const leased = q(
    `SELECT 1 FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = a.job_id
        WHERE a.provider = :account AND a.status = 'leased'
          AND (t.input_cid = :cid OR json_extract(j.spec, '$.model') = :cid) AND ${clientsBlob}
       UNION ALL
       SELECT 1 FROM canary_assignments ca JOIN canary_tasks ct ON ct.id = ca.canary_id
        WHERE ca.provider = :account AND ca.status = 'leased' AND (ct.model = :cid OR ct.input_cid = :cid)
       UNION ALL
       SELECT 1 FROM assignments a JOIN train_blobs b ON b.task_id = a.task_id JOIN jobs j ON j.id = a.job_id
        WHERE a.provider = :account AND a.status = 'leased' AND b.cid = :cid AND ${clientsBlob}
       UNION ALL
       SELECT 1 FROM canary_assignments ca JOIN canary_tasks ct ON ct.id = ca.canary_id
         JOIN train_blobs b ON b.task_id = ct.source_task_id JOIN jobs j ON j.id = b.job_id
        WHERE ca.provider = :account AND ca.status = 'leased' AND ct.kind = 'train.diloco'
          AND b.cid = :cid AND ${clientsBlob}
       LIMIT 1`,
  );
  // The same right as `leased`, for the one assignment a lease token names.
  const leaseOf = q(
    `SELECT 1 FROM assignments a JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = a.job_id
        WHERE a.id = :id AND a.provider = :account AND a.status = 'leased'
          AND (t.input_cid = :cid OR json_extract(j.spec, '$.model') = :cid) AND ${clientsBlob}
       UNION ALL
       SELECT 1 FROM canary_assignments ca JOIN canary_tasks ct ON ct.id = ca.canary_id
        WHERE ca.id = :id AND ca.provider = :account AND ca.status = 'leased'
          AND (ct.model = :cid OR ct.input_cid = :cid)
       UNION ALL
       SELECT 1 FROM canary_assignments ca JOIN canary_tasks ct ON ct.id = ca.canary_id
         JOIN train_blobs b ON b.task_id = ct.source_task_id JOIN jobs j ON j.id = b.job_id
        WHERE ca.id = :id AND ca.provider = :account AND ca.status = 'leased' AND ct.kind = 'train.diloco'
          AND b.cid = :cid AND ${clientsBlob}
       LIMIT 1`,
  );
  /** Bytes and blobs of uploads under way, per account (so parallel uploads cannot overshoot). */
  const inFlight = new Map<string, { bytes: number; count: number }>();

  async function signer(
    header: string | undefined,
    primaryType: 'BlobUpload' | 'BlobRead',
    cid: string,
    size?: number,
  ): Promise<string> {
    const auth = parseBlobAuth(header);
    if (!auth)
      throw new PlexusError(
        'PLX_AUTH_REQUIRED',
        `sign the request: x-plexus-auth with an EIP-712 ${primaryType} (docs/protocol.md)`,
      );
    const common = { account: auth.account, cid: `0x${cid}` as Hex, issuedAt: auth.issuedAt };
    const nowSec = Math.floor(now() / 1000);
    if (primaryType === 'BlobUpload')
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType,
        message: { ...common, size: BigInt(size ?? 0) },
        signature: auth.signature,
        expectedSigner: auth.account,
        nowSec,
      });
    else
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType,
        message: common,
        signature: auth.signature,
        expectedSigner: auth.account,
        nowSec,
      });
    return auth.account.toLowerCase();
  }

  return {
    async authorizeUpload(header, cid, size) {
      const account = await signer(header, 'BlobUpload', cid, size);
      // Providers upload outputs and capability answers under their session key; they are staked,
      // and what they upload is either referenced by a task or collected after the grace period.
      // Recorded, so that a result may name only an output its provider uploaded (results.ts).
      if ((await isProvider.value([account])) !== undefined && (deps.isStaked?.(account) ?? true))
        return {
          account,
          done: async (stored) => {
            if (stored) await recordProvider(stored.cid, account);
          },
        };
      if (deps.mayUpload && !(await deps.mayUpload(account as Address)))
        throw new PlexusError(
          'PLX_BLOB_FORBIDDEN',
          `${account} has no escrow here: deposit before uploading`,
          {
            details: { account },
          },
        );
      // Reserve before the first await: two uploads racing from one account each count the
      // other's bytes, so parallel uploads cannot overshoot the quota between read and reserve.
      const flying = inFlight.get(account) ?? { bytes: 0, count: 0 };
      inFlight.set(account, { bytes: flying.bytes + size, count: flying.count + 1 });
      let ended = false;
      const release = () => {
        if (ended) return;
        ended = true;
        const f = inFlight.get(account);
        if (!f) return;
        if (f.count <= 1) inFlight.delete(account);
        else inFlight.set(account, { bytes: f.bytes - size, count: f.count - 1 });
      };
      try {
        const row = await usage.get<{ bytes: number | string; count: number | string }>([account]);
        // SUM over a PostgreSQL bigint is numeric (text in JS): numbers here, as SQLite gives them.
        const used = { bytes: Number(row?.bytes ?? 0), count: Number(row?.count ?? 0) };
        const again = (await owns.value([cid, account])) !== undefined;
        // Everything in flight now, this upload included (a re-upload of a kept blob adds nothing).
        const others = inFlight.get(account) ?? { bytes: size, count: 1 };
        const bytes = used.bytes + others.bytes - (again ? size : 0);
        const count = used.count + others.count - (again ? 1 : 0);
        if (bytes > deps.quota.bytes || count > deps.quota.count)
          throw new PlexusError(
            'PLX_BLOB_QUOTA_EXCEEDED',
            `${account} would keep ${bytes} bytes in ${count} blobs; the quota is ${deps.quota.bytes} bytes, ${deps.quota.count} blobs`,
            {
              details: {
                account,
                usedBytes: used.bytes,
                usedCount: used.count,
                quotaBytes: deps.quota.bytes,
                quotaCount: deps.quota.count,
              },
            },
          );
      } catch (err) {
        release();
        throw err;
      }
      return {
        account,
        async done(stored) {
          if (ended) return;
          release();
          if (stored) await record(stored.cid, account, stored.size);
        },
      };
    },
    async authorizeRead(header, cid) {
      if (header?.startsWith(READ_TOKEN_PREFIX)) {
        // A lease token: no signature to recover, one HMAC and one indexed lookup (before the
        // public-data check, which looks through jobs' specs: a task's read is the common case).
        const cap = deps.readTokens?.check(header);
        if (cap && (await leaseOf.value({ cid, id: cap.assignmentId, account: cap.provider })) !== undefined)
          return;
        if ((await publicBlob.value({ cid })) !== undefined) return;
        throw new PlexusError(
          'PLX_BLOB_FORBIDDEN',
          `the lease token does not open blob ${cid} (forged, expired, or its lease ended)`,
          { details: { cid } },
        );
      }
      if ((await publicBlob.value({ cid })) !== undefined) return;
      const account = await signer(header, 'BlobRead', cid);
      if ((await owns.value([cid, account])) !== undefined) return;
      if ((await clientsOutput.value({ cid, account })) !== undefined) return;
      if ((await leased.value({ cid, account })) !== undefined) return;
      if (deps.canRead && (await deps.canRead(account, cid))) return;
      throw new PlexusError('PLX_BLOB_FORBIDDEN', `${account} may not read blob ${cid}`, {
        details: { account, cid },
      });
    },
  };
}
