import { defineConfig } from 'vite';

export default defineConfig({
  // edge-tta's worker entry is an ES module (`new Worker(url, { type: 'module' })`).
  worker: { format: 'es' },
  // tfjs-backend-wasm is big by nature; the budget below is the example's, not Vite's 500 kB default.
  build: { chunkSizeWarningLimit: 2000 },
});
