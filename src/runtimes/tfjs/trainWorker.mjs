// Entry of a training worker process (see trainProcess.ts). It is forked without the parent's Node
// flags, so it registers the TypeScript loader itself before loading its TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./trainWorkerMain.ts');
