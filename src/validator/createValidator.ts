/**
 * The validator process (docs/validators.md): follows coordinators, downloads each closed epoch's
 * evidence, re-runs the epoch with the coordinator's own pure computation, signs the
 * FinalizeEpoch payload only when every fact matches, and otherwise records a dispute naming the
 * first differing fact. Coordinators pull signatures from its HTTP API.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Address, Hex, LocalAccount } from 'viem';
import { signEpoch } from '../chain/epoch/signEpoch.ts';
import { isPlexusError } from '../errors/PlexusError.ts';
import type { Logger } from '../logger.ts';
import { readJsonBounded, streamBounded } from '../protocol/boundedBody.ts';
import { claimSignatureProblem } from '../protocol/claimSignature.ts';
import { type ReplicaFetch, replicaFetch } from '../protocol/replicaFetch.ts';
import { createOnnxRuntime, type OnnxRuntime } from '../runtimes/onnx/createOnnxRuntime.ts';
import { bootstrapReplay } from './bootstrapReplay.ts';
import { checkCapabilityAnswers } from './checkCapabilityProofs.ts';
import { publishedDraws, revealedSeeds } from './checkDraws.ts';
import { checkRenderRegions, type RenderAudit, renderAuditsOf } from './checkRenderRegions.ts';
import { checkVerdicts } from './checkVerdicts.ts';
import { pickRechecks, readBlobAs, recheckExecutions } from './recheck.ts';
import type { ReputationReplay } from './reputationReplay.ts';
import type { DecidedEpoch, ValidatorStore } from './validatorStore.ts';
import { type EpochClaim, verifyEpoch } from './verifyEpoch.ts';

/**
 * A running validator.
 *
 * @example
 * const v = await createValidator({ account, target, coordinators: [url], store, log, port: 0 });
 * console.log(v.url); await v.stop();
 */
export type Validator = {
  url: string;
  /** Checks every followed coordinator once (the loop calls it; tests may too). */
  poll(): Promise<void>;
  stop(): Promise<void>;
};

/** One followed network: its store key and its replicas. */
type Network = { key: string; replicas: ReplicaFetch; using: string };

/** Epoch states in which the coordinator has closed the epoch (its evidence exists). */
const CLOSED = new Set(['closing', 'signed', 'submitted', 'settled']);

/**
 * The largest evidence bundle a validator downloads. The protocol puts no count on an epoch's
 * facts (jobs, charges, journal entries grow with the network's throughput), but a validator must
 * hold the bundle as one string to parse it (`verifyEpoch` takes the JSON text): V8 cannot make a
 * string of more than `buffer.constants.MAX_STRING_LENGTH` characters (2^29 − 24 on 64-bit, just
 * under 512 MiB), and a bundle is JSON of ASCII hex and numbers, one byte a character. A larger
 * bundle cannot be verified at all, so no byte past that is worth reading. At the measured 784 B
 * of evidence per charged execution (docs/scaling.md) that is ~685,000 charged executions per epoch.
 */
export const MAX_EVIDENCE_BYTES = Math.min(512 * 1024 * 1024, bufferConstants.MAX_STRING_LENGTH);

/** Largest claim or epoch list read from a coordinator (a claim is a few KiB; a list grows ~150 B an epoch). */
export const MAX_COORDINATOR_JSON_BYTES = 64 * 1024 * 1024;

/**
 * Downloads an epoch's evidence, resuming with `Range` where a transfer broke off (on the same
 * replica or, when it died, the next one: replicas serve the same stored bundle). A resumed part
 * of another bundle (the epoch was closed again meanwhile) is detected by its hash header and
 * the download starts over. At most `maxBytes` are read (PLX_RESPONSE_TOO_LARGE past them, not
 * retried: refused from the `content-length` up front, cut off while streaming), and each
 * attempt gets 60 s.
 *
 * @example
 * const text = await downloadEvidence('http://127.0.0.1:8080', 4);
 */
export async function downloadEvidence(
  coordinator: string | ReplicaFetch,
  epoch: number,
  attempts = 4,
  maxBytes = MAX_EVIDENCE_BYTES,
): Promise<string> {
  const replicas = typeof coordinator === 'string' ? replicaFetch(coordinator) : coordinator;
  const chunks: Buffer[] = [];
  let have = 0;
  let hash: string | null = null;
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await replicas.fetch(`/v1/epochs/${epoch}/evidence`, () => ({
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        signal: AbortSignal.timeout(60_000),
      }));
      if (res.status === 404) throw new Error(`no evidence for epoch ${epoch}`);
      if (!res.ok || !res.body) throw new Error(`evidence ${epoch}: HTTP ${res.status}`);
      const got = res.headers.get('x-plexus-evidence-hash');
      if (have > 0 && (res.status !== 206 || got !== hash)) {
        chunks.length = 0; // the server ignored the range, or serves another bundle: start over
        have = 0;
        if (res.status === 206) {
          await res.body.cancel();
          continue;
        }
      }
      hash = got;
      const url = `${replicas.url()}/v1/epochs/${epoch}/evidence`;
      await streamBounded(
        res,
        maxBytes,
        url,
        (c) => {
          chunks.push(c);
          have += c.length;
        },
        have,
      );
      return Buffer.concat(chunks).toString('utf8');
    } catch (err) {
      lastErr = err;
      if (String(err).includes('no evidence') || isPlexusError(err, 'PLX_RESPONSE_TOO_LARGE')) throw err;
    }
  }
  throw lastErr;
}

/**
 * Starts a validator: its HTTP API on `host:port` and, with `pollMs`, the loop that follows the
 * coordinators.
 *
 * @example
 * const v = await createValidator({ account, target: { chainId, settlement }, coordinators: ['http://a:8080,http://b:8080'], store, log, port: 7300, pollMs: 1000 });
 */
export async function createValidator(opts: {
  account: LocalAccount;
  target: { chainId: number; settlement: Address };
  /**
   * The coordinators to follow, one entry per network. An entry naming several URLs (comma-
   * separated, or a list) is one network's replicas on one database: the validator follows the
   * one that answers and moves to the next when it stops (docs/validators.md, "Replicas").
   */
  coordinators: readonly (string | readonly string[])[];
  store: ValidatorStore;
  log: Logger;
  host?: string;
  port: number;
  /** Poll interval; none: only explicit `poll()` calls. */
  pollMs?: number;
  /**
   * Share of each epoch's charged executions this validator re-runs itself (recheck.ts); 0: none.
   * The onnxruntime worker starts on the first re-run.
   */
  recheckRate?: number;
  /**
   * The followed networks' identity: the address whose signature each epoch claim must carry
   * (protocol/claimSignature.ts). Without it a validator acts on whatever a listed URL serves.
   */
  coordinatorKey?: Address;
  /**
   * The settlement contract, read: a validator with an empty store joining a network whose epoch
   * list starts after epoch 1 bootstraps its replay from the bundles the chain finalized
   * (bootstrapReplay.ts). None: it starts at the oldest epoch listed, its replay partial.
   */
  chain?: { lastFinalized: () => Promise<number>; evidenceHashOf: (epoch: number) => Promise<Hex> };
}): Promise<Validator> {
  const { account, target, store, log } = opts;
  let runtime: OnnxRuntime | undefined;
  // One network per entry; its store key is its URL list (one URL: that URL, as before replicas).
  const coordinators = opts.coordinators.map((c) => {
    const replicas = replicaFetch(c);
    return { key: replicas.urls.join(','), replicas, using: replicas.url() };
  });
  const metrics = {
    signed: 0,
    disputes: store.disputes(1_000_000).length,
    lastEpoch: 0,
    switches: 0,
    foreignClaims: 0,
  };

  // Per network, providers' reputations replayed from the journal of every bundle it signed.
  const replays = new Map<string, ReputationReplay>();
  const replayOf = (coordinator: string): ReputationReplay => {
    let r = replays.get(coordinator);
    if (!r) {
      r = store.reputation(coordinator);
      replays.set(coordinator, r);
    }
    return r;
  };

  /** An epoch's evidence and claim, read from the replica in use (or the next that answers). */
  async function readEpoch(replicas: ReplicaFetch, epoch: number) {
    const evidence = await downloadEvidence(replicas, epoch);
    const res = await replicas.fetch(`/v1/epochs/${epoch}/claim`, () => ({
      signal: AbortSignal.timeout(30_000),
    }));
    if (!res.ok) throw new Error(`claim ${epoch}: HTTP ${res.status}`);
    const url = `${replicas.url()}/v1/epochs/${epoch}/claim`;
    return { evidence, claim: await readJsonBounded<EpochClaim>(res, MAX_COORDINATOR_JSON_BYTES, url) };
  }

  async function decide(network: Network, epoch: number): Promise<DecidedEpoch> {
    const { key: coordinator, replicas } = network;
    let { evidence, claim } = await readEpoch(replicas, epoch);
    // A replica whose claim the network did not sign (a rogue listed as a replica, or one in front
    // of it) is left out and the epoch read from the next one: a rogue that keeps answering, even
    // listed first, does not keep the validator from signing the network's epoch ("Whose claim").
    for (let i = 1; opts.coordinatorKey && i < replicas.urls.length; i++) {
      const hash = `0x${createHash('sha256').update(evidence).digest('hex')}` as Hex;
      const problem = await claimSignatureProblem(
        claim.coordinator,
        opts.coordinatorKey,
        target,
        epoch,
        hash,
      );
      const from = replicas.url();
      if (!problem || !replicas.distrust(from)) break;
      metrics.foreignClaims++;
      log.warn(
        { coordinator, replica: from, epoch, claim: problem, next: replicas.url() },
        'a coordinator replica serves a claim the network did not sign: left out, reading the epoch from the next one',
      );
      ({ evidence, claim } = await readEpoch(replicas, epoch));
    }
    const prev = store.get(coordinator, epoch - 1);
    // A re-closed epoch (reopened after a dispute, docs/validators.md "After a dispute") whose
    // earlier bundle this validator signed is checked from its replay as it was before that epoch.
    // The current replay stays in use until the re-closed bundle is signed (a disputed one, or a
    // rogue replica's, changes nothing: review 2 of issue 17).
    const applied = store.replayEpoch(coordinator);
    const rolledBack =
      applied !== undefined && applied >= epoch ? store.reputationBefore(coordinator, epoch) : undefined;
    const v = await verifyEpoch({
      evidence,
      claim,
      target,
      prevHash: prev?.evidenceHash ?? null,
      // Never back to an older evidence version than one signed (versionRule.ts, issue 17 F2).
      ...(store.highestVersion(coordinator) !== undefined
        ? { prevVersion: store.highestVersion(coordinator)! }
        : {}),
      commitmentOf: (e) => store.commitment(coordinator, e),
      remembered: (e) => store.draws(coordinator, e),
      seedOf: (e) => store.seed(coordinator, e),
      reputation: rolledBack ?? replayOf(coordinator),
      charges: {
        seen: (ref) => store.charge(coordinator, ref, epoch),
        used: (key) => store.chargeUsed(coordinator, key, epoch),
      },
      storagePrice: (objectId) => store.storagePrice(coordinator, objectId, epoch),
      pricesOf: (e) => (e < epoch ? store.epochPrices(coordinator, e) : undefined),
      // What signed bundles settled (checkSettled.ts; with the charges above, a store from before
      // it still knows the execution charges of the last CHARGE_MEMORY_MS).
      settled: {
        settled: (ref) => store.settledRef(coordinator, ref, epoch),
        executions: (task) => store.settledExecutions(coordinator, task, epoch),
        receiptPaid: (key) => store.receiptPaid(coordinator, key, epoch),
      },
      ...(opts.coordinatorKey ? { coordinatorKey: opts.coordinatorKey } : {}),
    });
    const base = { coordinator, epoch, decidedAt: Date.now() };
    const disputed = (d: { fact: string; claimed: string; recomputed: string }): DecidedEpoch => ({
      ...base,
      evidenceHash: v.evidenceHash,
      prevHash: null,
      status: 'disputed',
      signer: null,
      signature: null,
      ...d,
    });
    let renderAudits: RenderAudit[] = [];
    if (v.ok) {
      const read = (cid: string) => readBlobAs(replicas, account, target.chainId, cid);
      // Verdicts re-derived from the outputs they rest on (checkVerdicts.ts).
      const wrong = await checkVerdicts(v.facts, read, v.unpaid);
      if (wrong) return disputed(wrong);
      // Capability answers re-checked from their blobs (version 12, checkCapabilityProofs.ts).
      const answers = await checkCapabilityAnswers(v.facts.capabilityProofs ?? [], read);
      if (answers) return disputed(answers);
      // Render audit regions re-derived once their seed is revealed (checkRenderRegions.ts).
      const audits = await renderAuditsOf(v.facts, read);
      if (!Array.isArray(audits)) return disputed(audits);
      renderAudits = audits;
      const region = await checkRenderRegions(
        v.facts,
        audits,
        (e) => store.renderAudits(coordinator, e),
        read,
      );
      if (region) return disputed(region);
    }
    const picked = v.ok ? pickRechecks(v.facts, opts.recheckRate ?? 0) : [];
    if (v.ok && picked.length > 0) {
      runtime ??= createOnnxRuntime({ logger: log.child({ component: 'recheck' }) });
      const dispute = await recheckExecutions({
        coordinator: replicas,
        account,
        chainId: target.chainId,
        runtime,
        facts: v.facts,
        picked,
      });
      log.info({ epoch, rechecked: picked.length, dispute: dispute?.fact ?? null }, 'executions re-run');
      if (dispute) return disputed(dispute);
    }
    if (v.ok) {
      store.rememberVersion(coordinator, v.version);
      store.commit(coordinator, v.seedCommitment.epoch, v.seedCommitment.commitment);
      store.rememberDraws(coordinator, publishedDraws(v.facts));
      store.rememberSeeds(coordinator, revealedSeeds(v.facts));
      store.rememberRenderAudits(coordinator, renderAudits);
      if (v.charges) store.rememberCharges(coordinator, epoch, v.charges.endsAt, v.charges);
      store.rememberStoragePrices(coordinator, epoch, v.storagePrices);
      store.rememberEpochPrices(coordinator, v.prices);
      store.rememberSettled(coordinator, epoch, v.settled);
      if (v.reputation) {
        store.keepReputation(coordinator, epoch, v.facts.reputation ?? [], v.reputation);
        replays.set(coordinator, v.reputation);
      }
      const sig = await signEpoch(account, target, v.payload);
      return {
        ...base,
        evidenceHash: v.evidenceHash,
        prevHash: v.prevHash,
        status: 'signed',
        signer: sig.signer,
        signature: sig.signature,
        fact: null,
        claimed: null,
        recomputed: null,
      };
    }
    return {
      ...base,
      evidenceHash: v.evidenceHash,
      prevHash: null,
      status: 'disputed',
      signer: null,
      signature: null,
      fact: v.fact,
      claimed: v.claimed,
      recomputed: v.recomputed,
    };
  }

  /** Counts and logs a move to another replica (any request of the network may have made it). */
  function noteReplica(network: Network): void {
    const now = network.replicas.url();
    if (now === network.using) return;
    metrics.switches++;
    if (now === network.replicas.urls[0])
      log.info({ from: network.using, to: now }, 'the first coordinator replica answers again: back on it');
    else
      log.warn({ from: network.using, to: now }, 'coordinator replica not answering: following the next one');
    network.using = now;
  }

  /** A late joiner's replay from epoch 1, checked against the chain; kept only when complete. */
  async function bootstrap(network: Network, upTo: number, chain: NonNullable<typeof opts.chain>) {
    const b = await bootstrapReplay({
      upTo,
      evidence: (e) => downloadEvidence(network.replicas, e),
      claim: async (e) => (await readEpoch(network.replicas, e)).claim,
      chain,
      target,
      ...(opts.coordinatorKey ? { coordinatorKey: opts.coordinatorKey } : {}),
    });
    const c = network.key;
    if (b.problem) {
      log.warn(
        { coordinator: c, problem: b.problem },
        'replay not bootstrapped from the chain: it stays partial',
      );
      return;
    }
    for (const a of b.applied) {
      store.rememberVersion(c, a.version);
      store.commit(c, a.seedCommitment.epoch, a.seedCommitment.commitment);
      store.rememberDraws(c, publishedDraws(a.facts));
      store.rememberSeeds(c, revealedSeeds(a.facts));
      // The storage prices its holds set and its base prices: later bundles are checked by them.
      store.rememberStoragePrices(c, a.epoch, a.storagePrices);
      store.rememberEpochPrices(c, a.prices);
      store.rememberSettled(c, a.epoch, a.settled);
      if (a.reputation) store.keepReputation(c, a.epoch, a.facts.reputation ?? [], a.reputation);
    }
    replays.set(c, b.replay);
    log.info(
      { coordinator: c, epochs: b.applied.length },
      'replay bootstrapped from the chain (evidenceHashOf)',
    );
  }

  async function follow(network: Network): Promise<void> {
    const { key: coordinator, replicas } = network;
    const res = await replicas.fetch('/v1/epochs', () => ({ signal: AbortSignal.timeout(30_000) }));
    noteReplica(network);
    if (!res.ok) throw new Error(`epochs: HTTP ${res.status}`);
    const { epochs } = await readJsonBounded<{
      epochs: { epoch: number; status: string; evidenceHash?: string | null }[];
    }>(res, MAX_COORDINATOR_JSON_BYTES, `${replicas.url()}/v1/epochs`);
    // Each closed epoch not decided yet, and each one whose bundle changed since (the coordinator
    // reopened it after a dispute and closed it again: a new bundle gets its own decision).
    const listed = new Map(epochs.map((e) => [e.epoch, e]));
    const head = store.replayEpoch(coordinator);
    const todo = epochs
      .filter((e) => {
        if (!CLOSED.has(e.status)) return false;
        const prior = store.get(coordinator, e.epoch);
        if (!prior) return true;
        if (!e.evidenceHash || prior.evidenceHash === e.evidenceHash) return false;
        // Re-deciding an epoch before the replay's head rolls the replay back to it: only when
        // every later epoch this validator signed was reopened too (a rogue replica's list
        // changing one old epoch's hash alone is ignored: review 2 of issue 17).
        const later = laterNotReopened(e.epoch, head, listed, (x) => store.get(coordinator, x));
        if (later !== undefined) {
          log.warn(
            { coordinator, epoch: e.epoch, later },
            'an old epoch listed with another bundle while a later signed epoch was not reopened: ignored',
          );
          return false;
        }
        log.info(
          { coordinator, epoch: e.epoch },
          'the coordinator closed this epoch again: checking its new evidence',
        );
        return true;
      })
      .map((e) => e.epoch)
      .sort((a, b) => a - b);
    if (
      opts.chain &&
      (todo[0] ?? 1) > 1 &&
      !store.last(coordinator) &&
      store.replayEpoch(coordinator) === undefined
    )
      await bootstrap(network, todo[0]!, opts.chain);
    for (const epoch of todo) {
      const d = await decide(network, epoch);
      noteReplica(network);
      store.record(d);
      metrics.lastEpoch = Math.max(metrics.lastEpoch, epoch);
      if (d.status === 'signed') {
        metrics.signed++;
        log.info(
          { coordinator, replica: replicas.url(), epoch, evidenceHash: d.evidenceHash },
          'epoch verified and signed',
        );
      } else {
        metrics.disputes++;
        // One line an operator can alert on, naming the fact.
        log.error(
          { coordinator, epoch, fact: d.fact, claimed: d.claimed, recomputed: d.recomputed },
          'DISPUTE: the coordinator claims what its evidence does not give; not signing',
        );
      }
    }
  }

  // Each network is followed on its own (review s13, F1): a coordinator that trickles bytes (each
  // transfer gets 60 s an attempt, 4 attempts an epoch) holds up only its own network's checking,
  // not that of the others. A network still in its last poll is not polled again meanwhile.
  const following = new Map<string, Promise<void>>();
  const lastError = new Map<string, string>();
  function pollOne(c: Network): Promise<void> {
    const running = following.get(c.key);
    if (running) return running;
    const run = follow(c)
      .catch((err: unknown) => {
        // An unreachable coordinator is routine (restarts); anything else is worth a warning, once.
        const msg = String(err);
        if (/fetch failed|ECONNREFUSED|aborted|timeout/i.test(msg) || lastError.get(c.key) === msg)
          log.debug({ coordinator: c.key, err: msg }, 'coordinator poll failed; retrying');
        else log.warn({ coordinator: c.key, err: msg }, 'coordinator poll failed; retrying');
        lastError.set(c.key, msg);
      })
      .finally(() => following.delete(c.key));
    following.set(c.key, run);
    return run;
  }
  async function poll(): Promise<void> {
    await Promise.all(coordinators.map(pollOne));
  }

  const json = (res: import('node:http').ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = /^\/v1\/epochs\/(\d+)\/signature$/.exec(path);
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    if (m) {
      const epoch = Number(m[1]);
      const s = store.latestFor(epoch);
      if (s?.status === 'signed')
        return json(res, 200, {
          epoch,
          signer: s.signer,
          signature: s.signature,
          evidenceHash: s.evidenceHash,
        });
      if (s) return json(res, 409, { epoch, dispute: s });
      return json(res, 404, { error: `epoch ${epoch} not decided yet` });
    }
    if (path === '/v1/disputes') return json(res, 200, { disputes: store.disputes() });
    if (path === '/health')
      // `following`: per followed network, the replica in use (the last that answered).
      return json(res, 200, {
        ok: true,
        validator: account.address,
        following: coordinators.map((c) => ({ coordinator: c.key, replica: c.replicas.url() })),
      });
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return res.end(
        [
          '# HELP plexus_validator_epochs_signed_total Epochs verified and signed since start.',
          '# TYPE plexus_validator_epochs_signed_total counter',
          `plexus_validator_epochs_signed_total ${metrics.signed}`,
          '# HELP plexus_validator_disputes_total Epochs refused: the claim differs from the evidence.',
          '# TYPE plexus_validator_disputes_total counter',
          `plexus_validator_disputes_total ${metrics.disputes}`,
          '# TYPE plexus_validator_last_epoch gauge',
          `plexus_validator_last_epoch ${metrics.lastEpoch}`,
          '# HELP plexus_validator_replica_switches_total Moves between coordinator replicas (to the next when one stopped answering, back to the first once it answers).',
          '# TYPE plexus_validator_replica_switches_total counter',
          `plexus_validator_replica_switches_total ${metrics.switches}`,
          '# HELP plexus_validator_foreign_claims_total Claims a coordinator replica served that the network did not sign (that replica is left out for 10 min).',
          '# TYPE plexus_validator_foreign_claims_total counter',
          `plexus_validator_foreign_claims_total ${metrics.foreignClaims}`,
          '',
        ].join('\n'),
      );
    }
    return json(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  const url = `http://${opts.host ?? '127.0.0.1'}:${addr.port}`;
  const timer = opts.pollMs ? setInterval(() => void poll(), opts.pollMs) : undefined;
  if (opts.pollMs) void poll();
  return {
    url,
    poll,
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.all(following.values());
      await runtime?.close();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };
}

/**
 * Whether an epoch listed with another bundle may be re-decided: the first later epoch, up to the
 * replay's `head`, that this validator signed and the coordinator's list does not show reopened
 * (listed open, or closed with another bundle); undefined when there is none (`plexus ledger
 * reopen` reopens every later epoch too).
 *
 * @example
 * if (laterNotReopened(5, 7, listed, (e) => store.get(c, e)) === undefined) await decide(network, 5);
 */
export function laterNotReopened(
  epoch: number,
  head: number | undefined,
  listed: ReadonlyMap<number, { status: string; evidenceHash?: string | null }>,
  decided: (epoch: number) => DecidedEpoch | undefined,
): number | undefined {
  for (let later = epoch + 1; head !== undefined && later <= head; later++) {
    const kept = decided(later);
    if (kept?.status !== 'signed') continue;
    const now = listed.get(later);
    if (!now) return later;
    if (CLOSED.has(now.status) && (!now.evidenceHash || now.evidenceHash === kept.evidenceHash)) return later;
  }
  return undefined;
}

/** A signature as a coordinator pulls it (`GET /v1/epochs/:epoch/signature`). */
export type PulledSignature = { epoch: number; signer: Address; signature: Hex; evidenceHash: Hex };
