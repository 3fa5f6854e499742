// Entry of the erasure-coding thread (see erasureThread.ts). A worker thread does not inherit the
// TypeScript loader when its process was started without it on the command line, so it registers
// tsx itself before loading its TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./erasureWorkerMain.ts');
