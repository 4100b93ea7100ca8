/** Test-time augmentations (CoTTA's pipeline and its pieces), in tfjs ops. */
export {
  applyAugment,
  COTTA_AUGMENT_DEFAULTS,
  COTTA_SOFT_AUGMENT,
  ROID_AUGMENT,
  CottaAugmenter,
  drawAugment,
  resolveAugmentOptions,
  type AugmentDraw,
  type CottaAugmentOptions,
} from './cottaAugment.js';
export { adjustBrightness, adjustContrast, adjustGamma, adjustHue, adjustHueOps, adjustSaturation, toGrayscale, toGrayscaleOps } from './colorJitter.js';
export { applyWarp, applyWarpOps, gaussianBlurValid, gaussianKernel1d, planAffineWarp, type AffineParams, type PaddingMode, type WarpPlan } from './geometric.js';
