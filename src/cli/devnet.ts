import { Command } from 'commander';
import { formatUnits } from 'viem';
import { startDevnet } from '../devnet/startDevnet.ts';
import { intOption } from './options.ts';

/** `plexus devnet [--demo] [--exit]` (what `npm start` runs). */
export function devnetCommand(): Command {
  return new Command('devnet')
    .description('run a local network: a coordinator and provider agents as separate processes')
    .option('--providers <n>', 'provider agents to start', intOption(1, 32), 3)
    .option('--port <port>', 'coordinator port (0 = any free port)', intOption(0, 65535), 8080)
    .option('--data-dir <dir>', 'folder for all devnet state', '.plexus/devnet')
    .option('--demo', 'run the demo job (PP-OCRv4 text detection on generated images)', false)
    .option('--images <n>', 'images in the demo job', intOption(1, 1000), 6)
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
        demo: boolean;
        images: number;
        exit: boolean;
        logLevel: string;
      }) => {
        const print = (l: string) => console.log(l);
        const net = await startDevnet({
          dataDir: o.dataDir,
          providers: o.providers,
          port: o.port,
          print,
          logLevel: o.logLevel,
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
        if (o.demo || o.exit) {
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
      },
    );
}
