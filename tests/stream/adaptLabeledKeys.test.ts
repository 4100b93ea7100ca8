/**
 * Regression (usability review): a labelled frame with a misspelt key, { frame, label: 3 },
 * was taken as an unlabelled frame without a word (its batch reported no accuracy).
 */
import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapt, createAdapter, initBackend, type FrameInput } from '../../src/index.js';
import { smallResNet } from '../helpers/models.js';

describe('adapt: labelled frames', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('an unknown key on a labelled frame is an error record naming it, the valid keys and the one meant; the stream goes on', async () => {
    const adapter = await createAdapter(smallResNet([2, 2, 1], 3), { strategy: 'source' });
    const f = () => ({ data: new Float32Array(4).fill(0.5), shape: [2, 2, 1] });
    await adapter.step(f()); // the lazily kept state, before counting tensors
    const before = tf.memory().numTensors;
    const input = [
      { frame: f(), trueLabel: 1 },
      { frame: f(), label: 2, frameId: 'cam-1' },
      { frame: tf.zeros([2, 2, 1]), labels: [2] }, // rejected, and still disposed
      { frame: f(), id: 9 },
      { frame: f(), frameId: 'ok', trueLabel: 0 },
    ] as unknown as FrameInput[];
    const out = await lastValueFrom(from(input).pipe(adapt(adapter, { batchSize: 2, maxWaitMs: Infinity }), toArray()));
    expect(tf.memory().numTensors).toBe(before);
    expect(out.map((r) => [r.kind, r.frameId])).toEqual([
      ['prediction', 0],
      ['error', 'cam-1'],
      ['error', 2],
      ['error', 3],
      ['prediction', 'ok'],
    ]);
    expect(out[1]).toMatchObject({
      name: 'InvalidInputError',
      message: "The labelled frame has an unknown key 'label'; its keys are frame, frameId, trueLabel ({ frame, frameId?, trueLabel? }): did you mean trueLabel?",
    });
    expect(out[2]).toMatchObject({ message: expect.stringMatching(/unknown key 'labels'.*did you mean trueLabel\?/) });
    expect(out[3]).toMatchObject({ message: expect.stringMatching(/unknown key 'id'.*did you mean frameId\?/) });
    adapter.dispose();
  });
});
