/**
 * Surviving mutants that are equivalent: no test can kill them, because the program behaves the
 * same with and without them. Keyed by `file:line:column mutator` as tests/mutation/summary.ts
 * prints them; each with the reason.
 */
export const EQUIVALENT_MUTANTS: Record<string, string> = {
  'strategies/tent.ts:78:129 BooleanLiteral':
    "`differentiable: false` only turns off the closed-form BN op (batchNormTrain) and the differentiable mixing, used at alpha < 1; tent's alpha is 1, so the gradient then flows by autodiff through tf.moments and batchNorm, to the same values (tests/strategies/normStats.test.ts checks closed form = autodiff). Only speed changes.",
  'strategies/tent.ts:97:110 ArrayDeclaration':
    "With SGD (no Adam), `?? []` becomes `?? ['Stryker was here']`: a string joins the set of non-negative variables, and stateSpec only asks the set whether it has each state variable, which a string never is.",
  'strategies/source.ts:27:11 ConditionalExpression':
    "For a softmax-output model, `executor.predict(x)` runs the model's last layer, whose softmax activation is tf.softmax of the same executor logits that the fallback `tf.softmax(executor.logits(x))` computes: the same ops on the same values.",
  'strategies/source.ts:27:38 StringLiteral': 'Same as source.ts:27:11: the condition becomes always false.',
  'src/model/graphPlan.ts:63:52 ConditionalExpression':
    'Pushing an input that is already computed is harmless: the loop pops any computed tensor before doing anything with it (line 50). Only the stack work changes.',
  'src/model/tapedConv.ts:20:27 StringLiteral':
    "A Conv2D's config always has `dataFormat` (tf.layers fills in 'channelsLast'), so the `?? 'channelsLast'` fallback is never taken; emptying it changes nothing.",
  'src/model/tapedConv.ts:20:66 ConditionalExpression':
    "Only a Conv2D reaches this line (the class check above), and a Conv2D's padding can only be 'same' or 'valid' (tf.layers refuses 'causal' for it): the padding check is always true.",
  'src/model/tapedConv.ts:29:10 ConditionalExpression':
    "A Conv2D always has an activation object (tf.layers makes 'linear' when none is given), so `l.activation !== undefined` is always true.",
  'src/model/batchNorm.ts:32:44 ConditionalExpression':
    '`if (node.saved !== undefined) tf.dispose(node.saved)` to `if (true)`: tf.dispose(undefined) does nothing, so the guard only skips a no-op call.',
};
