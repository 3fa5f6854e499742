/**
 * The market's interface (createMarket.ts builds it): admission against escrow, billing of verified
 * executions, provider sessions and eligibility, base prices. docs/market.md.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Address } from 'viem';
import type { HardwareClaim, JobSpec } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import type { Verdict } from '../verification/taskVerification.ts';
import type { ChainStanding } from './chainStanding.ts';
import type { EpochClock } from './epochClock.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export type Market = {
  clock: EpochClock;
  /** True when escrow is checked on chain; false in development mode (no chain). */
  readonly escrowChecked: boolean;
  /**
   * Admits a job: checks the client's available escrow covers its worst case, then runs `store`
   * (which inserts the job) under a lock, so two submissions cannot both spend the same escrow.
   * `store` must write in `trx` (the transaction of the check, holding the client's admission
   * lock across replicas, escrowLock.ts): opening another transaction there would wait forever on
   * a one-connection store.
   */
  admit(
    args: {
      client: Address;
      tasks: number;
      policy: VerificationPolicy;
      taskTimeoutSec: number;
      maxPrice: bigint;
      /** The job's model reads from the storage network, reserved with it (modelReadReserve.ts). */
      modelReads?: bigint;
    },
    store: (worstCase: bigint, trx: Transaction<Database>) => Promise<void>,
  ): Promise<void>;
  /**
   * Admits a fixed charge (a dataset purchase, docs/sensors.md): checks the client's available
   * escrow covers `amount`, then runs `store` (which posts the charge) under the same lock as job
   * admission, so a purchase and a job cannot both spend the same escrow. `store` writes in `trx`,
   * as for {@link Market.admit}.
   */
  admitCharge(
    client: Address,
    amount: bigint,
    store: (trx: Transaction<Database>) => Promise<void>,
  ): Promise<void>;
  /**
   * The admission check of {@link Market.admit} without its side effects (no lock, nothing
   * stored): throws PLX_INSUFFICIENT_ESCROW when the client's available escrow is below the job's
   * worst case now. Job intake calls it before the expensive checks (reading inputs, loading the
   * model), so a client without escrow cannot make the coordinator do them; `admit` checks again.
   */
  canAdmit(args: {
    client: Address;
    tasks: number;
    policy: VerificationPolicy;
    taskTimeoutSec: number;
    maxPrice: bigint;
    /** The job's model reads from the storage network, reserved with it (modelReadReserve.ts). */
    modelReads?: bigint;
  }): Promise<void>;
  /**
   * Available escrow of a client (on-chain balance − pending withdrawal − unsettled − reserved;
   * reserved: open jobs' worst cases not charged yet and escrow held for stored terms).
   */
  availableEscrow(
    client: Address,
  ): Promise<{ balance: bigint; unsettled: bigint; reserved: bigint; available: bigint }>;
  /**
   * Bills the paid executions of an accepted task into the ledger (caller's transaction). A caller
   * that already read the job or the task's executions (oldest first) passes them in `known`.
   */
  onVerdict(
    trx: Transaction<Database>,
    jobId: string,
    verdict: Verdict,
    known?: {
      job?: { client: string; spec: JobSpec; maxPrice: bigint | undefined };
      executions?: readonly { assignment_id: string; provider: string; result: string }[];
      /** The job has ended: bill a verdict whose bill waited for it (deferredBilling.ts). */
      jobEnded?: boolean;
      /**
       * Lease rows the caller already holds as they stand in this transaction (a result's own
       * lease, returned by its completion), by assignment id: billing reads the others.
       */
      leases?: ReadonlyMap<string, LeaseTermsRow>;
    },
  ): Promise<void>;
  /** Records a provider's session start and floor prices (caller's transaction). */
  onConnected(
    trx: Transaction<Database>,
    hello: {
      address: string;
      hardware: HardwareClaim;
      slots: number;
      floorPrices?: Record<string, string> | undefined;
    },
    t: number,
  ): Promise<void>;
  onDisconnected(trx: Transaction<Database>, address: string, t: number): Promise<void>;
  /**
   * The class a lease made now is billed in (stored with it, `assignments.lease_class`): for a GPU
   * job the GPU class of the provider's session — dispatch gives GPU work only to a provider whose
   * capability proof for the hardware it claims in that session passed — else `cpu`. Fixed at lease
   * time: a reconnect mid-lease claiming another GPU does not change what the lease is billed in.
   * Undefined for a GPU job when this market has no session of the provider (billed as before 0052).
   */
  leaseClass(address: string, needsGpu: boolean): string | undefined;
  /**
   * Connected providers that may not take a job: their floor for its class is above the job's
   * cap, or (with a chain) they are not active on chain (unregistered, below minStake — slashed —
   * or unbonding: docs/contracts.md says such providers take no new work).
   */
  ineligible(maxPrice: bigint | undefined, needsGpu: boolean): Set<string>;
  /** Re-reads every connected provider's on-chain status (stake changes, slashes, unbonding). */
  refreshStakes(): Promise<void>;
  /**
   * Re-reads the escrow of every client with open jobs. A client whose escrow (less any pending
   * withdrawal) no longer covers its unsettled charges and open reservations is held: the work
   * loop starts none of its tasks until it is covered again (cancelled withdrawal, new deposit),
   * so a withdrawal requested after admission cannot leave work unpaid (docs/market.md).
   */
  refreshEscrowHolds(): Promise<void>;
  /** The client's unstarted tasks wait: its escrow no longer covers its open jobs. */
  clientHeld(client: string): boolean;
  /** A provider's bonded stake as last read from the chain (undefined: never read, or no chain). */
  stakeOf(address: string): bigint | undefined;
  /**
   * A provider's on-chain record as last read (kept after a disconnect) with the registry's
   * minimum stake: what decides whether it is active (undefined: never read, or no chain).
   */
  standingOf(address: string): ChainStanding | undefined;
  /** The base price of a class in force in an epoch. */
  basePrice(db: Executor, cls: string, epoch: number): Promise<bigint>;
  /** The epoch new ledger entries belong to now: the clock's, but never one already closed. */
  currentEpoch(db: Executor, t?: number): Promise<number>;
  /** Resource classes seen (cpu plus every GPU class of a known provider). */
  classes(db: Executor): Promise<string[]>;
};

/** What billing reads of an execution's lease (`assignments` columns fixed when it was made, and its end). */
export type LeaseTermsRow = Pick<
  Selectable<Database['assignments']>,
  'created_at' | 'finished_at' | 'lease_class' | 'size_cap_milli'
>;
