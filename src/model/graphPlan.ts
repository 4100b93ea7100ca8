import * as tf from '../tf.js';
import { UnsupportedModelError } from '../errors.js';
import { isNestedModel } from './layerKinds.js';

/** One layer call of a compiled plan; `nested` when the layer is itself a LayersModel. */
export interface PlanStep {
  layer: tf.layers.Layer;
  inputIds: number[];
  outputIds: number[];
  nested?: GraphPlan;
}

/** A LayersModel flattened into layer calls in topological order, keyed by SymbolicTensor ids. */
export interface GraphPlan {
  inputIds: number[];
  outputIds: number[];
  steps: PlanStep[];
}

type LayerNode = {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
};

function nodeOf(t: tf.SymbolicTensor): LayerNode {
  const nodes = (t.sourceLayer as unknown as { inboundNodes: LayerNode[] }).inboundNodes;
  const node = nodes[t.nodeIndex];
  if (node === undefined) {
    throw new UnsupportedModelError(`Tensor '${t.name}' has no inbound node ${t.nodeIndex} in layer '${t.sourceLayer.name}'.`);
  }
  return node;
}

/**
 * Compiles the sub-graph of `model` needed to compute `targets` (SymbolicTensors of this
 * model, or of models nested in it) from the model's inputs. Nested models are compiled
 * recursively so hooks can reach their layers.
 */
export function compilePlan(model: tf.LayersModel, targets: tf.SymbolicTensor[] = model.outputs): GraphPlan {
  const inputIds = new Set(model.inputs.map((t) => t.id));
  const steps: PlanStep[] = [];
  const done = new Set<number>(); // ids of symbolic tensors already produced
  for (const id of inputIds) done.add(id);

  // Iterative DFS, so very deep nets do not overflow the stack.
  const visit = (root: tf.SymbolicTensor): void => {
    const stack: Array<{ t: tf.SymbolicTensor; expanded: boolean }> = [{ t: root, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (done.has(top.t.id)) {
        stack.pop();
        continue;
      }
      const layer = top.t.sourceLayer;
      if (layer.getClassName() === 'InputLayer') {
        throw new UnsupportedModelError(
          `Input '${top.t.name}' is not an input of model '${model.name}'; edge-tta runs models whose graph starts at model.inputs.`,
        );
      }
      const node = nodeOf(top.t);
      if (!top.expanded) {
        top.expanded = true;
        for (const input of node.inputTensors) if (!done.has(input.id)) stack.push({ t: input, expanded: false });
        continue;
      }
      stack.pop();
      const step: PlanStep = {
        layer,
        inputIds: node.inputTensors.map((t) => t.id),
        outputIds: node.outputTensors.map((t) => t.id),
      };
      if (isNestedModel(layer)) step.nested = compilePlan(layer);
      steps.push(step);
      for (const id of step.outputIds) done.add(id);
    }
  };
  for (const t of targets) visit(t);
  return { inputIds: model.inputs.map((t) => t.id), outputIds: targets.map((t) => t.id), steps };
}
