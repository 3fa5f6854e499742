/**
 * Defaults of the storage network (docs/storage.md, "What is built"). Every one can be set in the
 * coordinator's config (`storage…` fields); tests shorten the window and the deadline.
 */

import { PLX } from '../../chain/constants.ts';
import { DEFAULT_CHALLENGE_LEAVES } from '../../storage/challenge.ts';
import { DEFAULT_ERASURE } from '../../storage/erasure.ts';

/**
 * @example const deadline = STORAGE_DEFAULTS.deadlineMs;
 */
export const STORAGE_DEFAULTS = {
  /** One challenge window: every healthy piece is challenged once per window. */
  windowMs: 60 * 60_000,
  /**
   * Answer deadline: shorter than rebuilding a piece from K others (at the defaults, fetching 16
   * pieces of 2 MiB and about 2 s of decoding compute alone, docs/storage.md), so a holder that
   * dropped its piece cannot rebuild it on demand in time.
   */
  deadlineMs: 2_000,
  /**
   * How long a holder offline when a window opens has to come back and answer (then it is faulted
   * `offline`): a coordinator restart or a dropped link must not fault honest holders, whose agents
   * reconnect with backoff capped at 30 s (provider/agent/backoff.ts). 0 faults them at once.
   */
  offlineGraceMs: 120_000,
  /** Leaves challenged per piece per window. */
  challengeLeaves: DEFAULT_CHALLENGE_LEAVES,
  /** Bytes per segment of a stored object. */
  segmentBytes: DEFAULT_ERASURE.segmentBytes,
  /** How long a holder has to fetch a piece it was ordered to keep (or rebuild it). */
  orderTtlMs: 10 * 60_000,
  /** A pending piece with no open order this long (its holder left, or refused) is placed elsewhere. */
  placeTimeoutMs: 5 * 60_000,
  /** A put not fully placed this long after it was accepted fails: pieces dropped, term released. */
  placeDeadlineMs: 60 * 60_000,
  /** How often lapsed orders and stalled uploads are swept (placingSweep.ts). */
  sweepMs: 30_000,
  /** How long a read grant lets a reader fetch pieces. */
  readGrantTtlMs: 10 * 60_000,
  /**
   * Reads of a stored object, in whole coded objects (every piece once), that one reader other
   * than its owner (a provider on the owner's job) may have served: the owner pays for them, and a
   * leased provider re-reading the model in a loop must not run up its bill (security review).
   */
  modelReadsPerReader: 2,
  /** How long a reader waits for one holder to serve a piece before trying the next. */
  relayTimeoutMs: 60_000,
  /**
   * How long a direct-serving ticket is good for (directTickets.ts): the reader uses it at once,
   * and a ticket it never used stops counting toward what that server may redeem only in bytes.
   */
  ticketTtlMs: 30_000,
  /** Tickets one read grant may be issued, in pieces of the object (each piece twice). */
  ticketsPerPiece: 2,
  /** Stored term when the client names none, in epochs. */
  defaultEpochs: 24,
  /** Price of keeping one GiB (of pieces, parity included) for one epoch: 0.001 PLX. */
  pricePerGiBEpoch: PLX / 1_000n,
  /** Price of one byte served to a reader (paid from its signed receipts): about 0.01 PLX per GiB. */
  pricePerByte: PLX / 100n / 2n ** 30n,
  /** Fault fee of a missed or wrong challenge answer, charged through the slash path: 1 PLX. */
  faultFee: PLX,
};
