/**
 * The IoT demo's simulated camera: one 28x28 grey frame at a time, at a fixed rate, from a
 * Fashion-MNIST-C benchmark stream (src/data/streams.ts), looped forever. The camera's "world"
 * shifts as the stream does: with the default `continual` stream every `perDomain` frames
 * through the 15 corruptions; `mixed`, `gradual`, `clean`... work too. Each frame carries its
 * true label (so the adapter reports accuracy) and its domain.
 *
 * @example
 * ```ts
 * simulatedCamera({ fps: 120, stream: 'continual', perDomain: 1000 }).subscribe((f) => ...);
 * ```
 */
import { interval, map, type Observable } from 'rxjs';
import { streamFromSpec, type DomainName, type StreamBatch } from '../../src/data/streams.js';
import type { LabeledFrame } from '../../src/stream/types.js';

/** Options of {@link simulatedCamera}. */
export interface CameraOptions {
  /** Frames per second. */
  fps: number;
  /** A stream spec of `streamFromSpec` (continual, mixed, gradual, clean, ...). Defaults to `continual`. */
  stream?: string;
  /** Frames per domain before the world shifts. Defaults to 1000. */
  perDomain?: number;
  /** Seed of the stream's shuffles and corruption noise. Defaults to 1. */
  seed?: number;
}

/** A camera frame: the adapter's input (frame + true label) and the domain it was shot in. */
export interface CameraFrame extends LabeledFrame {
  frame: { data: Float32Array; shape: [28, 28, 1] };
  trueLabel: number;
  domain: DomainName;
}

/** The frames of `stream` one at a time, forever (the stream restarts at its end). */
export function* cameraFrames(options: Omit<CameraOptions, 'fps'> = {}): Generator<CameraFrame> {
  const stream = streamFromSpec(options.stream ?? 'continual', { perDomain: options.perDomain ?? 1000, batchSize: 1, seed: options.seed ?? 1 });
  for (;;) {
    for (const b of stream as Iterable<StreamBatch>) {
      yield { frame: { data: b.x, shape: [28, 28, 1] }, trueLabel: b.labels[0]!, domain: b.frameDomains[0]! };
    }
  }
}

/** A camera emitting {@link cameraFrames} at `fps` until unsubscribed. */
export function simulatedCamera(options: CameraOptions): Observable<CameraFrame> {
  const frames = cameraFrames(options);
  return interval(1000 / options.fps).pipe(map(() => frames.next().value as CameraFrame));
}
