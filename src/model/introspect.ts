import * as tf from '../tf.js';
import { UnsupportedModelError } from '../errors.js';
import { activationOf, isBatchNorm, isConv, isDense, isNestedModel, isSoftmaxLayer } from './layerKinds.js';

/** A BatchNormalization layer with handles on its source statistics and affine parameters. */
export interface BatchNormInfo {
  name: string;
  layer: tf.layers.Layer;
  /** The normalised axis, as a non-negative index into the layer's input shape. */
  axis: number;
  /** Rank of the layer's input (batch included). */
  inputRank: number;
  epsilon: number;
  channels: number;
  /** Scale (null when the layer has `scale: false`). */
  gamma: tf.Variable | null;
  /** Offset (null when the layer has `center: false`). */
  beta: tf.Variable | null;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

/** What edge-tta knows about a LayersModel's structure. */
export interface ModelInfo {
  /** Input shape without the batch dimension, e.g. [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  /** How the model's output relates to logits. */
  outputKind: 'softmax' | 'logits';
  /** The layer whose output (before any softmax) is the logits. */
  logitsLayer: string;
  /** The layer whose output is the penultimate feature tensor (the logits layer's input). */
  featuresLayer: string;
  featureDim: number;
  batchNorms: BatchNormInfo[];
  convLayers: string[];
  denseLayers: string[];
  /** Every layer, nested models flattened, in model order. */
  layers: tf.layers.Layer[];
  /** @internal SymbolicTensor id of the logits. */
  logitsTensorId: number;
  /** @internal SymbolicTensor id of the penultimate features. */
  featuresTensorId: number;
  /** @internal The logits layer when its own activation is the softmax (skipped in logits mode). */
  softmaxActivationLayer: tf.layers.Layer | null;
}

/** Every layer of `model`, nested models expanded (the nested model itself is not listed). */
export function flattenLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (isNestedModel(layer)) out.push(...flattenLayers(layer));
    else if (layer.getClassName() !== 'InputLayer') out.push(layer);
  }
  return out;
}

/** Follows an output tensor into nested models until it reaches the layer that really produced it. */
function innermost(t: tf.SymbolicTensor): tf.SymbolicTensor {
  let cur = t;
  while (isNestedModel(cur.sourceLayer)) {
    const nested = cur.sourceLayer as tf.LayersModel;
    cur = nested.outputs[cur.tensorIndex]!;
  }
  return cur;
}

function inputOf(t: tf.SymbolicTensor): tf.SymbolicTensor {
  const node = (t.sourceLayer as unknown as { inboundNodes: Array<{ inputTensors: tf.SymbolicTensor[] }> })
    .inboundNodes[t.nodeIndex]!;
  if (node.inputTensors.length !== 1) {
    throw new UnsupportedModelError(
      `Layer '${t.sourceLayer.name}' produces the logits from ${node.inputTensors.length} inputs; ` +
        'edge-tta expects the logits layer (usually the last Dense) to take one feature tensor.',
    );
  }
  return innermost(node.inputTensors[0]!);
}

function batchNormInfo(layer: tf.layers.Layer): BatchNormInfo {
  const bn = layer as unknown as {
    axis: number;
    epsilon: number;
    gamma?: { read(): tf.Tensor };
    beta?: { read(): tf.Tensor };
    movingMean: { read(): tf.Tensor };
    movingVariance: { read(): tf.Tensor };
  };
  // inputShapes is one shape, or a list holding one shape.
  const shapes = (layer as unknown as { inboundNodes: Array<{ inputShapes: unknown }> }).inboundNodes[0]?.inputShapes;
  const inputShape = Array.isArray(shapes) && Array.isArray(shapes[0]) ? (shapes[0] as number[]) : (shapes as number[] | undefined);
  const inputRank = inputShape?.length ?? 4;
  const axis = bn.axis < 0 ? inputRank + bn.axis : bn.axis;
  const movingMean = bn.movingMean.read() as tf.Variable;
  return {
    name: layer.name,
    layer,
    axis,
    inputRank,
    epsilon: bn.epsilon,
    channels: movingMean.shape[0]!,
    gamma: (bn.gamma?.read() as tf.Variable | undefined) ?? null,
    beta: (bn.beta?.read() as tf.Variable | undefined) ?? null,
    movingMean,
    movingVariance: bn.movingVariance.read() as tf.Variable,
  };
}

/**
 * Reads a classifier's structure: BN layers, conv/dense layers, logits and penultimate layer.
 * Throws {@link UnsupportedModelError} for models edge-tta cannot adapt (several inputs or
 * outputs, an output that is neither logits nor a softmax).
 */
export function inspectModel(model: tf.LayersModel): ModelInfo {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedModelError(
      `Model '${model.name}' has ${model.inputs.length} inputs and ${model.outputs.length} outputs; ` +
        'edge-tta adapts single-input, single-output classifiers.',
    );
  }
  const out = innermost(model.outputs[0]!);
  let logits = out;
  let outputKind: ModelInfo['outputKind'] = 'logits';
  let softmaxActivationLayer: tf.layers.Layer | null = null;
  if (isSoftmaxLayer(out.sourceLayer)) {
    logits = inputOf(out);
    outputKind = 'softmax';
  } else {
    const act = activationOf(out.sourceLayer);
    if (act === 'softmax') {
      outputKind = 'softmax';
      softmaxActivationLayer = out.sourceLayer;
    } else if (act !== 'linear') {
      throw new UnsupportedModelError(
        `Model '${model.name}' ends in layer '${out.sourceLayer.name}' with activation '${act}'; ` +
          "edge-tta expects a classifier whose output is logits (activation 'linear') or a softmax.",
      );
    }
  }
  if (logits.shape.length !== 2) {
    throw new UnsupportedModelError(
      `Model '${model.name}' has logits of shape [${logits.shape.map(String).join(', ')}]; edge-tta expects [batch, classes].`,
    );
  }
  // One score per frame (dense(1)): a softmax over one class is 1 for every frame, so every
  // prediction would be class 0 with confidence 1.
  if (logits.shape[1] !== null && logits.shape[1]! < 2) {
    throw new UnsupportedModelError(
      `Model '${model.name}' gives one score per frame (logits [batch, ${String(logits.shape[1])}]); edge-tta needs one per class (2 or more). ` +
        'For a binary classifier with one logit z, output the two logits [0, z] (their softmax is [1 - sigmoid(z), sigmoid(z)]).',
    );
  }
  const features = inputOf(logits);
  const layers = flattenLayers(model);
  const inputShape = model.inputs[0]!.shape.slice(1);
  if (inputShape.some((d) => d === null)) {
    throw new UnsupportedModelError(
      `Model '${model.name}' has input shape [${model.inputs[0]!.shape.map(String).join(', ')}]; edge-tta needs a fixed input size.`,
    );
  }
  return {
    inputShape: inputShape as number[],
    numClasses: logits.shape[1]!,
    outputKind,
    logitsLayer: logits.sourceLayer.name,
    featuresLayer: features.sourceLayer.name,
    featureDim: features.shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1),
    batchNorms: layers.filter(isBatchNorm).map(batchNormInfo),
    convLayers: layers.filter(isConv).map((l) => l.name),
    denseLayers: layers.filter(isDense).map((l) => l.name),
    layers,
    logitsTensorId: logits.id,
    featuresTensorId: features.id,
    softmaxActivationLayer,
  };
}
