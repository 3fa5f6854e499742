// Entry of the coordinator's capability-proof verifier thread (see freivaldsVerifier.ts). A worker
// thread does not inherit the TypeScript loader when the coordinator was started without it on
// the command line, so it registers tsx itself before loading its TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./freivaldsWorkerMain.ts');
