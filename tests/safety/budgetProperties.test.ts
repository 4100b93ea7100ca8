/**
 * Properties of the compute budget's token bucket (src/safety/budget.ts) over random streams:
 * batch sizes, update costs and skipped-step costs drawn by fast-check. The bucket only lets an
 * update run on a balance of at least zero, and a skipped step that costs no more than its deposit
 * never lowers the balance, so:
 * - the time spent never exceeds the deposits plus one update's cost (the budget is kept, up to
 *   one update of overshoot, however the stream is cut into batches);
 * - updates keep running: after an update, the next one comes within ceil(cost / surplus) skipped
 *   steps, the surplus being what a skipped step leaves of its deposit;
 * - when every step costs more than its deposit (the budget is below a prediction's cost), an
 *   update runs only while the time overspent so far is within the step's deposit (so updates
 *   stop once the overspend passes the largest batch's deposit); with batches of one size, once a
 *   step is skipped no update follows; and the reported floor and measured cost are above the budget.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ComputeBudget } from '../../src/safety/budget.js';

/** One step of a simulated stream: its frames and what an update or a skipped step would cost (ms per frame). */
const stepArb = fc.record({
  frames: fc.integer({ min: 1, max: 128 }),
  updateMsPerFrame: fc.double({ min: 0.5, max: 20, noNaN: true }),
  skipShare: fc.double({ min: 0, max: 1, noNaN: true }),
});

describe('ComputeBudget properties (fast-check)', () => {
  it('spends at most the deposits plus one update, whatever the batches and costs', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.array(stepArb, { minLength: 1, maxLength: 300 }), (budgetMs, steps) => {
        const b = new ComputeBudget({ maxAdaptMsPerFrame: budgetMs });
        let deposits = 0;
        let maxUpdate = 0;
        for (const s of steps) {
          const allowed = b.allowUpdate(s.frames);
          deposits += budgetMs * s.frames;
          // A skipped step costs at most its deposit here (a prediction under the budget).
          const cost = allowed ? s.updateMsPerFrame * s.frames : s.skipShare * budgetMs * s.frames;
          if (allowed) maxUpdate = Math.max(maxUpdate, cost);
          b.spend(cost, s.frames, allowed);
          expect(b.totalMs).toBeLessThanOrEqual(deposits + maxUpdate + 1e-9 * deposits);
        }
      }),
      { numRuns: 300, seed: 15 },
    );
  });

  it('updates keep coming: after one, the next within ceil(update cost / surplus) skipped steps', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 128 }),
        fc.double({ min: 0.5, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        (budgetMs, frames, updateMsPerFrame, skipShare) => {
          const b = new ComputeBudget({ maxAdaptMsPerFrame: budgetMs });
          const deposit = budgetMs * frames;
          const update = updateMsPerFrame * frames;
          const surplus = (1 - skipShare) * deposit;
          // The balance after an update is at least its deposit minus its cost; each skipped step adds the surplus, capped at one update.
          const bound = Math.ceil(Math.max(0, update - deposit) / surplus) + 1;
          let sinceUpdate = 0;
          let updates = 0;
          for (let i = 0; i < 400; i++) {
            const allowed = b.allowUpdate(frames);
            b.spend(allowed ? update : skipShare * deposit, frames, allowed);
            if (allowed) {
              updates++;
              sinceUpdate = 0;
            } else {
              sinceUpdate++;
              expect(sinceUpdate).toBeLessThanOrEqual(bound);
            }
          }
          expect(updates).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300, seed: 16 },
    );
  });

  it('every step above its deposit, one batch size: once a step is skipped no update follows', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 10, noNaN: true }), fc.integer({ min: 1, max: 128 }), fc.double({ min: 1.01, max: 5, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), (budgetMs, frames, skipOver, updateOverSkip) => {
        const b = new ComputeBudget({ maxAdaptMsPerFrame: budgetMs });
        const allowed: boolean[] = [];
        // Each update overspends by at least 1% of a deposit: they stop within ~100 steps.
        for (let i = 0; i < 1000; i++) {
          const ok = b.allowUpdate(frames);
          allowed.push(ok);
          b.spend((ok ? updateOverSkip : 1) * skipOver * budgetMs * frames, frames, ok);
        }
        const firstSkip = allowed.indexOf(false);
        expect(firstSkip).toBeGreaterThan(0);
        expect(allowed.slice(firstSkip).every((ok) => !ok)).toBe(true);
      }),
      { numRuns: 300, seed: 18 },
    );
  });

  it('every step above its deposit: updates only while the overspend is within the deposit, and the floor shows it', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 128 }), { minLength: 2, maxLength: 200 }),
        fc.double({ min: 1.01, max: 5, noNaN: true }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (budgetMs, batches, skipOver, updateOverSkip) => {
          const b = new ComputeBudget({ maxAdaptMsPerFrame: budgetMs });
          const skipMsPerFrame = skipOver * budgetMs;
          const run = (sizes: number[]): boolean[] => {
            const allowed: boolean[] = [];
            let overspent = 0;
            for (const frames of sizes) {
              const ok = b.allowUpdate(frames);
              if (ok) expect(overspent).toBeLessThanOrEqual(budgetMs * frames * (1 + 1e-12));
              allowed.push(ok);
              const cost = (ok ? skipMsPerFrame * updateOverSkip : skipMsPerFrame) * frames;
              b.spend(cost, frames, ok);
              overspent += cost - budgetMs * frames;
            }
            return allowed;
          };
          const allowed = run(batches);
          expect(allowed[0]).toBe(true);
          const firstSkip = allowed.indexOf(false);
          const info = b.info();
          expect(info.msPerFrame).toBeGreaterThan(info.maxMsPerFrame);
          if (firstSkip >= 0) {
            expect(info.floorMsPerFrame!).toBeCloseTo(skipMsPerFrame, 9);
            expect(info.floorMsPerFrame!).toBeGreaterThan(info.maxMsPerFrame);
          }
        },
      ),
      { numRuns: 300, seed: 17 },
    );
  });
});
