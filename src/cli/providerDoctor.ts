/**
 * `plexus provider doctor`: everything that decides whether a provider gets work, checked from
 * the provider's side and from what the coordinator and the chain expose, ending in one verdict:
 * "eligible for work: yes" or "no, because …" with the next step for each reason.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { type Address, getAddress } from 'viem';
import { z } from 'zod';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { getProtocolParameters } from '../chain/actions/getProtocolParameters.ts';
import { getProvider } from '../chain/actions/provider/getProvider.ts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { readKeystoreAddress } from '../keystore/loadOrCreateKeystore.ts';
import { probeHardware } from '../provider/hardware/probeHardware.ts';
import { addChainOptions, type ChainCliOptions, connectReader, onChain, report } from './chainCli.ts';
import { fetchCoordinator } from './fetchCoordinator.ts';
import { formatEth, formatPlx } from './format.ts';
import { addressOption } from './options.ts';

/** Less ETH than this cannot pay for a few registry transactions on any chain Plexus runs on. */
const LOW_GAS_WEI = 10n ** 15n;

const providersSchema = z.looseObject({
  providers: z.array(
    z.looseObject({
      address: z.string(),
      connected: z.boolean(),
      lastSeen: z.number().nullable().optional(),
      capability: z
        .looseObject({
          class: z.string(),
          proven: z.boolean(),
          gpuTrusted: z.boolean(),
          lastOutcome: z.string(),
          reason: z.string(),
        })
        .nullable()
        .optional(),
      eligibility: z
        .looseObject({
          eligible: z.boolean(),
          reasons: z.array(z.looseObject({ code: z.string(), message: z.string() })),
        })
        .optional(),
    }),
  ),
});

/** One line of the report. */
export type Check = { name: string; ok: boolean | null; detail: string; fix?: string };

type DoctorOptions = ChainCliOptions & { dataDir: string; keystore?: string; address?: string; gpu: boolean };

async function runDoctor(
  o: DoctorOptions,
): Promise<{ address: Address | null; checks: Check[]; eligible: boolean }> {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  // 1. key (read without its password, never created)
  let address: Address | null = null;
  const path = o.keystore ?? join(o.dataDir, 'key.json');
  if (o.address) address = getAddress(o.address);
  else {
    try {
      const a = await readKeystoreAddress(path, 'provider');
      if (a) address = getAddress(a);
      add({
        name: 'key',
        ok: a !== undefined,
        detail: a ? `${path} holds ${a}` : `${path} names no address`,
        ...(a ? {} : { fix: 'give --address, or recreate the key with plexus provider start' }),
      });
    } catch (err) {
      if (!isPlexusError(err, 'PLX_KEYSTORE_MISSING')) throw err;
      add({
        name: 'key',
        ok: false,
        detail: `no key file at ${path}`,
        fix: 'check --data-dir, or create the key with plexus provider start (or provider register)',
      });
    }
  }

  // 2. coordinator
  let entry: z.infer<typeof providersSchema>['providers'][number] | undefined;
  let reachable = false;
  try {
    const list = await fetchCoordinator(o.coordinator, '/v1/providers', providersSchema);
    reachable = true;
    entry = address
      ? list.providers.find((p) => p.address.toLowerCase() === address!.toLowerCase())
      : undefined;
    add({
      name: 'coordinator',
      ok: true,
      detail: `${o.coordinator} answers (${list.providers.length} providers known)`,
    });
  } catch (err) {
    add({
      name: 'coordinator',
      ok: false,
      detail: err instanceof Error ? err.message : String(err),
      fix: 'check --coordinator and that it runs',
    });
  }
  if (reachable && address) {
    add({
      name: 'connected',
      ok: entry?.connected === true,
      detail: entry
        ? entry.connected
          ? 'the agent is connected now'
          : 'the coordinator knows this provider but it is not connected'
        : 'the coordinator has never seen this provider',
      ...(entry?.connected
        ? {}
        : { fix: `start the agent: plexus provider start --coordinator ${o.coordinator}` }),
    });
    const cap = entry?.capability;
    add({
      name: 'capability proof',
      ok: cap ? cap.proven : null,
      detail: cap
        ? `${cap.class}: ${cap.lastOutcome}${cap.reason ? ` (${cap.reason})` : ''}${cap.gpuTrusted ? ', GPU work allowed' : ''}`
        : 'no proof judged yet',
      ...(cap && !cap.proven
        ? {
            fix: 'keep the agent connected: the coordinator challenges it again; a slow or wrong answer means the claimed hardware is not there',
          }
        : {}),
    });
  }

  // The coordinator's own verdict (what its market decides on), when it serves one.
  if (reachable && entry?.eligibility) {
    const e = entry.eligibility;
    add({
      name: 'coordinator says',
      ok: e.eligible,
      detail: e.eligible
        ? 'eligible for work'
        : `not eligible: ${e.reasons.map((r) => r.message).join('; ')}`,
    });
  }

  // 3. chain: registration, stake, gas (skipped when the coordinator runs without a chain)
  let chainChecked = false;
  let stakeOk = true;
  try {
    const ctx = await connectReader(o);
    chainChecked = true;
    if (address) {
      const [rec, params, eth, plx] = await Promise.all([
        getProvider(ctx, address),
        getProtocolParameters(ctx),
        ctx.publicClient.getBalance({ address }),
        getPlxBalance(ctx, address),
      ]);
      stakeOk = rec.registered && rec.active && rec.stake >= params.minStake;
      add({
        name: 'stake',
        ok: stakeOk,
        detail: rec.registered
          ? `${formatPlx(rec.stake)} bonded (minimum ${formatPlx(params.minStake)})${rec.active ? '' : ', not active'}`
          : 'not registered on chain',
        ...(stakeOk
          ? {}
          : {
              fix: rec.registered
                ? `stake at least ${formatPlx(params.minStake - (rec.stake < params.minStake ? rec.stake : 0n))} more: plexus provider stake AMOUNT`
                : `register with plexus provider register --stake ${formatPlx(params.minStake).replace(' PLX', '')} (devnet funds: plexus devnet faucet ${address})`,
            }),
      });
      add({
        name: 'gas',
        ok: eth >= LOW_GAS_WEI,
        detail: `${formatEth(eth)} for gas, ${formatPlx(plx)} in the wallet`,
        ...(eth >= LOW_GAS_WEI
          ? {}
          : { fix: `send the account ETH (on a devnet: plexus devnet faucet ${address})` }),
      });
    }
  } catch (err) {
    if (isPlexusError(err, 'PLX_NOT_FOUND'))
      add({
        name: 'chain',
        ok: null,
        detail: 'the coordinator runs without a chain (development mode): no stake needed',
      });
    else
      add({
        name: 'chain',
        ok: false,
        detail: err instanceof Error ? err.message : String(err),
        fix: 'check --rpc-url / --deployment',
      });
  }

  // 4. runtimes on this machine
  const hw = await probeHardware();
  const gpuWanted = o.gpu && hw.gpus.length > 0;
  add({
    name: 'runtimes',
    ok: true,
    detail: `onnxruntime ${hw.onnxruntimeVersion}: ${hw.executionProviders.join(', ')}; ${hw.cpuCores} cores, ${hw.gpus.length} GPU(s)${hw.gpus.length > 0 && !hw.executionProviders.includes('cuda') ? ' (CUDA runtime not installed: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install)' : ''}`,
  });
  if (gpuWanted && !hw.executionProviders.includes('cuda'))
    add({
      name: 'gpu',
      ok: false,
      detail: 'a GPU is present but onnxruntime has no CUDA provider',
      fix: 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install',
    });

  const blocking = checks.filter((c) => c.ok === false && c.name !== 'gas' && c.name !== 'gpu');
  const eligible = blocking.length === 0 && address !== null && reachable && (chainChecked ? stakeOk : true);
  return { address, checks, eligible };
}

/**
 * Adds `plexus provider doctor` to `plexus provider`.
 *
 * @example
 * addProviderDoctor(new Command('provider'));
 */
export function addProviderDoctor(cmd: Command): Command {
  addChainOptions(
    cmd
      .command('doctor')
      .description(
        'check key, coordinator, connection, capability proof, stake, gas and runtimes: is this provider eligible for work, and if not why',
      )
      .option('--data-dir <dir>', 'provider folder holding the key', '.plexus/provider')
      .option('--keystore <file>', 'key file (default DATA_DIR/key.json; read, never created)')
      .option('--address <address>', 'check another provider (no key needed)', addressOption)
      .option('--no-gpu', 'do not consider the GPU'),
  ).action((o: DoctorOptions) =>
    onChain(async () => {
      const r = await runDoctor(o);
      const mark = (ok: boolean | null) => (ok === true ? 'ok  ' : ok === false ? 'FAIL' : ' -  ');
      const reasons = r.checks.filter((c) => c.ok === false).map((c) => `${c.name}: ${c.detail}`);
      report(o, { ...r }, [
        `provider ${r.address ?? '(unknown)'}`,
        ...r.checks.flatMap((c) => [
          `  ${mark(c.ok)} ${c.name.padEnd(17)} ${c.detail}`,
          ...(c.fix ? [`       → ${c.fix}`] : []),
        ]),
        r.eligible
          ? 'eligible for work: yes'
          : `eligible for work: no, because ${reasons.join('; ') || 'the checks above could not run'}`,
      ]);
    }),
  );
  return cmd;
}
