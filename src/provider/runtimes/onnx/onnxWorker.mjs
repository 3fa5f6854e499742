// Worker-thread entry of the ONNX runtime (see createOnnxRuntime.ts). The `plexus` command registers
// the TypeScript loader programmatically, which worker threads do not inherit, so register it here
// before loading the worker's TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./onnxWorkerMain.ts');
