/**
 * The one place the SDK imports TensorFlow.js from. It re-exports the scoped packages the SDK
 * uses (core, layers, and the converter's GraphModel) instead of the `@tensorflow/tfjs` umbrella,
 * so an app's own tfjs copy is the one used and bundles carry no webgl backend or tfjs-data.
 */
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export { GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
