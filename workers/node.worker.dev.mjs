// Development entry of the Node worker: registers tsx's loader in this worker thread, then
// runs the TypeScript entry. Used when edge-tta runs from its sources (vitest, tsx); the
// build runs dist/workers/node.worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./node.worker.ts');
