/**
 * Entry of the browser camera demo: starts the lanes' Web Workers at once (lane B unless the URL
 * turns it off), then loads the page code (`page.ts`, a separate chunk), so the workers' start-up
 * (their bundle, the tfjs wasm binary, the model) overlaps with the page code loading.
 */
import { startWorkers } from './workerPool.js';
// uPlot's stylesheet (charts.ts draws with uPlot): imported here, the build links it from index.html.
import 'uplot/dist/uPlot.min.css';

startWorkers(new URLSearchParams(location.search).get('strategyB') === 'off' ? 1 : 2);
await import('./page.js');
