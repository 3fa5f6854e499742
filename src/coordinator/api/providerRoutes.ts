import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely, Selectable } from 'kysely';
import type { Address, Hex } from 'viem';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { PlexusReader } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { capabilitiesHash } from '../../protocol/capabilities.ts';
import { INLINE_OUTPUT_MAX_BYTES, MAX_WS_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../protocol/constants.ts';
import { verifyPlexusMessage } from '../../protocol/eip712.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import { type ProviderView, providerListSchema, providerViewSchema } from '../../protocol/http/providers.ts';
import {
  addressSchema,
  type CoordinatorMessage,
  type HardwareClaim,
  providerMessageSchema,
} from '../../protocol/schemas.ts';
import type { ReadCapabilities } from '../blobs/readCapability.ts';
import { accounts } from '../ledger/accounts.ts';
import { maintainedBalances } from '../ledger/ledgerBalances.ts';
import type { ChainStanding } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import { providerEligibility } from '../providers/eligibility.ts';
import { findProvider, listProviders } from '../providers/providerQueries.ts';
import type { StorageProviderMessage, StorageService } from '../storage/startStorageNetwork.ts';
import type { Database, ProvidersTable } from '../store/schema.ts';
import type { WorkLoop } from '../work/createWorkLoop.ts';
import { publicReputationsIn } from '../work/publicReputation.ts';
import type { ProviderLink } from '../work/workState.ts';

type ProviderRow = Selectable<ProvidersTable>;

/** A provider must answer the challenge within this, or it is disconnected. */
const AUTH_TIMEOUT_MS = 10_000;
/** Sustained messages per second per session, and the burst allowed above it. */
const MESSAGE_RATE = 100;
const MESSAGE_BURST = 400;
/** Invalid messages tolerated before a session is closed. */
const MAX_STRIKES = 20;
const PING_INTERVAL_MS = 15_000;
/** Most providers one `GET /v1/providers` lists. */
const MAX_LISTED_PROVIDERS = 1000;
/** GPUs listed per provider, and the longest name shown (the claim itself may hold 64 of 200). */
const LISTED_GPUS = 16;
const LISTED_NAME = 64;

/**
 * A hardware claim as `/v1/providers` lists it: bounded, so a provider's self-description costs
 * the list at most about 2 KB however much junk the claim schema lets through.
 */
function listedHardware(hw: HardwareClaim): HardwareClaim {
  return {
    ...hw,
    cpuModel: hw.cpuModel.slice(0, LISTED_NAME),
    gpus: hw.gpus.slice(0, LISTED_GPUS).map((g) => ({ ...g, name: g.name.slice(0, LISTED_NAME) })),
  };
}

/**
 * The provider side of the coordinator: a WebSocket at `/v1/providers/ws` (the agent dials out,
 * so it works behind NAT) and the public provider list. A session starts with a challenge the
 * provider signs (EIP-712 SessionAuth, which also commits to its claimed capabilities); every later
 * message is validated, rate-limited and, for results, signed again.
 *
 * @example await app.register(providerRoutes({ db, loop, chainId, log, metrics }));
 */
export function providerRoutes(deps: {
  db: Kysely<Database>;
  loop: WorkLoop;
  chainId: number;
  log: Logger;
  metrics: Metrics;
  /** With a chain, each provider's on-chain stake is shown; without, `stake` is null. */
  chain?: PlexusReader | undefined;
  /** The stake last read from the chain (the market refreshes it on connect and every 10 s). */
  stakeOf?: (address: string) => bigint | undefined;
  /** Mints the lease token each assignment carries (the agent reads the task's blobs with it). */
  readTokens?: ReadCapabilities;
  /** The on-chain record last read, for the eligibility view. */
  standingOf?: (address: string) => ChainStanding | undefined;
  /** The storage network (issue 19): told of sessions that offer disk, and given `store.*` messages. */
  storage?: StorageService;
  /** The largest blob this coordinator takes (told to agents in the welcome: their cache's bound). */
  maxBlobBytes?: number;
}) {
  const { db, loop, chainId, log, metrics } = deps;
  return async (app: FastifyInstance) => {
    app.get('/v1/providers/ws', { websocket: true, schema: { hide: true } }, (socket: WebSocket, req) => {
      const challenge = `0x${randomBytes(32).toString('hex')}` as Hex;
      // Messages sent in one turn of the event loop leave in one write: a result's ack and the
      // next assignment (leased as the result frees the slot) are two frames but one system call
      // here and one wake-up of the agent, not two.
      const tcp = req.socket;
      let corked = false;
      const uncork = () => {
        corked = false;
        tcp.uncork();
      };
      let link: ProviderLink | undefined;
      let authing = false;
      let strikes = 0;
      /**
       * Assignments the agent said it still holds when it authenticated (running, or finished and
       * not yet acknowledged). After a long disconnect their leases have expired, and the agent
       * resends each result once: a stale refusal of one of them is a flaky link, not an attack,
       * and is no strike (once per id; at most 1,024 by the auth schema).
       */
      let resent = new Set<string>();
      let tokens = MESSAGE_BURST;
      let lastRefill = Date.now();
      let alive = true;
      let queue: Promise<void> = Promise.resolve();

      const send = (msg: CoordinatorMessage): boolean => {
        if (socket.readyState !== socket.OPEN) return false;
        if (!corked) {
          corked = true;
          tcp.cork();
          setImmediate(uncork);
        }
        // An assignment carries its lease's read token: the agent signs nothing to fetch the task.
        const out =
          msg.type === 'assign' && link && deps.readTokens
            ? { ...msg, readToken: deps.readTokens.mint(link.address, msg.assignmentId, msg.timeoutMs) }
            : msg;
        socket.send(JSON.stringify(out));
        return true;
      };
      const strike = () => {
        if (++strikes > MAX_STRIKES) socket.close(1008, 'too many invalid messages');
      };
      const refuse = (code: PlexusError['code'], message: string) => {
        metrics.rejectedMessages.inc({ code });
        send({ type: 'error', code, message });
        strike();
      };

      const authTimer = setTimeout(() => {
        if (!link) socket.close(1008, 'authentication timeout');
      }, AUTH_TIMEOUT_MS);
      const pinger = setInterval(() => {
        if (!alive) {
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, PING_INTERVAL_MS);
      socket.on('pong', () => {
        alive = true;
      });

      send({ type: 'hello', challenge, chainId, protocolVersion: PROTOCOL_VERSION });

      socket.on('message', (raw: Buffer, isBinary: boolean) => {
        const now = Date.now();
        tokens = Math.min(MESSAGE_BURST, tokens + ((now - lastRefill) / 1000) * MESSAGE_RATE);
        lastRefill = now;
        if (tokens < 1) {
          refuse('PLX_RATE_LIMITED', 'too many messages');
          return;
        }
        tokens--;
        if (isBinary) {
          refuse('PLX_UNSUPPORTED_MEDIA_TYPE', 'send JSON text frames');
          return;
        }
        let json: unknown;
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch {
          refuse('PLX_BAD_JSON', 'message is not valid JSON');
          return;
        }
        const parsed = providerMessageSchema.safeParse(json);
        if (!parsed.success) {
          refuse(
            'PLX_VALIDATION',
            parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          );
          return;
        }
        const msg = parsed.data;
        // Messages of one session are handled in order (a result never overtakes the auth).
        queue = queue.then(async () => {
          try {
            if (msg.type === 'auth') {
              if (link || authing)
                throw new PlexusError('PLX_VALIDATION', 'session is already authenticated');
              authing = true;
              await verifyPlexusMessage({
                chainId,
                primaryType: 'SessionAuth',
                message: {
                  provider: msg.provider,
                  challenge,
                  capabilitiesHash: capabilitiesHash(msg),
                  issuedAt: BigInt(msg.issuedAt),
                },
                signature: msg.signature,
                expectedSigner: msg.provider,
              }).catch((err) => {
                authing = false;
                throw err;
              });
              const address = msg.provider.toLowerCase() as Address;
              // An offer readers must not be sent to is refused before the session exists.
              if (msg.storage) deps.storage?.checkOffer(msg.storage);
              link = { address, send };
              resent = new Set(msg.inFlight);
              clearTimeout(authTimer);
              await loop.providerConnected(link, {
                address,
                hardware: msg.hardware,
                slots: msg.slots,
                region: msg.region,
                agentVersion: msg.agentVersion,
                cached: msg.cached,
                inFlight: msg.inFlight,
                floorPrices: msg.floorPrices,
                remoteAddress: req.ip,
              });
              send({
                type: 'welcome',
                provider: address,
                maxMessageBytes: MAX_WS_MESSAGE_BYTES,
                inlineOutputBytes: INLINE_OUTPUT_MAX_BYTES,
                ...(deps.maxBlobBytes ? { maxBlobBytes: deps.maxBlobBytes } : {}),
              });
              await loop.providerWelcomed(address, msg.hardware);
              if (msg.storage)
                await deps.storage?.providerConnected({
                  address,
                  region: msg.region,
                  offer: msg.storage,
                  send,
                  remoteAddress: req.ip,
                });
              return;
            }
            if (!link) throw new PlexusError('PLX_UNAUTHORIZED', 'answer the challenge first');
            if (msg.type === 'result') {
              await loop.handleResult(link.address, msg);
              send({ type: 'ack', assignmentId: msg.assignmentId as Hex, accepted: true });
            } else if (msg.type === 'commit') {
              await loop.handleCommit(link.address, msg);
            } else if (msg.type === 'capability-digest') {
              loop.handleCapabilityDigest(link.address, msg);
            } else if (msg.type === 'capability-answer') {
              await loop.handleCapabilityAnswer(link.address, msg);
            } else if (msg.type === 'failure') {
              await loop.handleFailure(link.address, msg);
              send({ type: 'ack', assignmentId: msg.assignmentId as Hex, accepted: true });
            } else if (msg.type === 'cache') {
              // Over MAX_ADVERTISED_CACHE: refused whole with PLX_CACHE_LIMIT_EXCEEDED, a strike
              // (below). The auth's `cached` cannot exceed it: one frame holds ~3,900 cids.
              loop.providerCacheChanged(link.address, msg.added, msg.removed);
            } else if (msg.type === 'drain') {
              await loop.providerDraining(link.address);
            } else if (msg.type.startsWith('store.')) {
              await deps.storage?.handle(link.address, msg as StorageProviderMessage);
            }
          } catch (err) {
            const e =
              err instanceof PlexusError
                ? err
                : new PlexusError('PLX_INTERNAL', 'internal error handling the message');
            if (!(err instanceof PlexusError)) log.error({ err }, 'provider message failed');
            if ('assignmentId' in msg) {
              metrics.rejectedMessages.inc({ code: e.code });
              send({
                type: 'ack',
                assignmentId: msg.assignmentId as Hex,
                accepted: false,
                code: e.code,
                message: e.message,
              });
              // A refused result, commitment or failure report (not ours, forged, stale) is a
              // strike like any invalid message: a key flooding them is cut off after
              // MAX_STRIKES. Our own bugs (PLX_INTERNAL) are not the provider's fault, and neither
              // is the first stale refusal of an assignment it listed as in flight (see `resent`).
              const ownResend =
                e.code === 'PLX_STALE_ASSIGNMENT' && resent.delete(msg.assignmentId as string);
              if (e.code !== 'PLX_INTERNAL' && !ownResend) strike();
            } else refuse(e.code, e.message);
            if (e.code === 'PLX_UNAUTHORIZED' || (msg.type === 'auth' && !link)) socket.close(1008, e.code);
          }
        });
      });

      socket.on('close', () => {
        clearTimeout(authTimer);
        clearInterval(pinger);
        const l = link;
        if (l) deps.storage?.providerDisconnected(l.address, l.send);
        if (l)
          queue = queue
            .then(() => loop.providerDisconnected(l))
            .catch((err) => log.error({ err }, 'disconnect failed'));
      });
      socket.on('error', (err) => log.warn({ err: err.message }, 'provider socket error'));
    });

    /** A stored provider row as `GET /v1/providers` shows it. */
    const view = (
      p: ProviderRow,
      earnings: Map<string, bigint>,
      shown: Map<string, string | null>,
    ): ProviderView => {
      // The reputation the current epoch began with when it changed since (publicReputation.ts):
      // a passed canary raised it at once, an unaudited real task did not.
      const reputation = shown.has(p.address) ? (shown.get(p.address) ?? null) : p.reputation;
      const verification = loop.verificationView(p.address, reputation, p.capability);
      const connected = p.connected === 1;
      return {
        address: p.address,
        connected,
        region: p.region,
        slots: p.slots,
        active: loop.activeOf(p.address),
        hardware: listedHardware(JSON.parse(p.hardware) as HardwareClaim),
        agentVersion: p.agent_version,
        tasksCompleted: p.tasks_completed,
        tasksFailed: p.tasks_failed,
        ...verification,
        firstSeen: p.first_seen,
        lastSeen: p.last_seen,
        earnings: (-(earnings.get(accounts.providerEarnings(p.address)) ?? 0n)).toString(),
        stake: deps.chain ? (deps.stakeOf?.(p.address)?.toString() ?? null) : null,
        eligibility: providerEligibility({
          connected,
          chain: deps.chain !== undefined,
          standing: deps.standingOf?.(p.address),
          gpuTrusted: verification.capability?.gpuTrusted ?? false,
        }),
      };
    };

    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get(
      '/v1/providers',
      {
        schema: {
          summary:
            'Providers known to this coordinator, oldest first (at most `limit`, default and cap 1,000)',
          querystring: z.strictObject({
            limit: z.coerce.number().int().min(1).max(MAX_LISTED_PROVIDERS).default(MAX_LISTED_PROVIDERS),
          }),
          response: { 200: providerListSchema, ...errorResponses },
        },
      },
      async (req) => {
        const rows = await listProviders(db, req.query.limit);
        // The listed providers' maintained balances: a row each, not the whole journal (review s10 F3).
        const earnings = await maintainedBalances(db, {
          accounts: rows.map((p) => accounts.providerEarnings(p.address)),
        });
        const shown = await publicReputationsIn(
          db,
          rows.map((p) => p.address),
          loop.publicEpoch(),
        );
        return { providers: rows.map((p) => view(p, earnings, shown)) };
      },
    );

    r.get(
      '/v1/providers/:address',
      {
        schema: {
          summary:
            'One provider as the list shows it, with whether it is eligible for work and why not (the agent polls it)',
          params: z.object({ address: addressSchema }),
          response: { 200: providerViewSchema, ...errorResponses },
        },
      },
      async (req) => {
        const address = req.params.address.toLowerCase();
        const row = await findProvider(db, address);
        if (!row) throw new PlexusError('PLX_NOT_FOUND', `no provider ${address}: it never connected here`);
        const earnings = await maintainedBalances(db, { accounts: [accounts.providerEarnings(address)] });
        return view(row, earnings, await publicReputationsIn(db, [address], loop.publicEpoch()));
      },
    );
  };
}
