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
  'src/model/introspect.ts:90:18 OptionalChaining':
    "A BN layer of a model always has an inbound node (it was applied to build the model), so `inboundNodes[0]?.inputShapes` never meets undefined.",
  'src/model/introspect.ts:91:22 ConditionalExpression':
    "tfjs-layers 4.22 stores a node's `inputShapes` as a list of shapes even for one input, so the list branch is always taken; forcing it changes nothing.",
  'src/model/introspect.ts:91:22 LogicalOperator': 'Same as introspect.ts:91:22 ConditionalExpression: `inputShapes` is always a list of shapes.',
  'src/model/introspect.ts:92:21 OptionalChaining': 'The input shape found above is never undefined (see introspect.ts:90:18), so `?.` never short-circuits.',
  'src/model/introspect.ts:93:16 EqualityOperator':
    "`bn.axis < 0` to `<= 0` differs only for a BN over axis 0, the batch axis, which tf.layers cannot build on a model input (its parameter size would be the unknown batch size).",
  'strategies/registry.ts:53:44 StringLiteral':
    "The message of a duplicate name among the built-in definitions, checked once at module load: the built-in names are distinct, so it never throws (and no test can load the module with a duplicate).",
  'strategies/normStats.ts:96:7 ConditionalExpression':
    "`typeof m !== 'number' ||` dropped: Number.isFinite does not coerce, so every non-number still fails the next test with the same message.",
  'strategies/normStats.ts:105:7 ConditionalExpression': 'Same as normStats.ts:96:7: Number.isFinite rejects every non-number on its own.',
  'strategies/normStats.ts:182:73 BooleanLiteral':
    "The moving-statistics variables made trainable: nothing trains 'all trainable variables' (every optimiser here gets an explicit list), so the flag is never read.",
  'strategies/normStats.ts:183:81 BooleanLiteral': 'Same as normStats.ts:182:73, for the moving variance.',
  'strategies/normStats.ts:194:18 ConditionalExpression': "Tent's closed-form BN (batchNormTrain) and the autodiff path through tf.moments and tf.batchNorm give the same values (tests/strategies/normStats.test.ts checks closed form = autodiff over 3 steps); the mutant only moves a batch between the two, which changes speed, not results.",
  'strategies/normStats.ts:198:11 ConditionalExpression': "Tent's closed-form BN (batchNormTrain) and the autodiff path through tf.moments and tf.batchNorm give the same values (tests/strategies/normStats.test.ts checks closed form = autodiff over 3 steps); the mutant only moves a batch between the two, which changes speed, not results.",
  'strategies/normStats.ts:198:42 ArithmeticOperator': "Tent's closed-form BN (batchNormTrain) and the autodiff path through tf.moments and tf.batchNorm give the same values (tests/strategies/normStats.test.ts checks closed form = autodiff over 3 steps); the mutant only moves a batch between the two, which changes speed, not results.",
  'strategies/normStats.ts:198:54 BlockStatement': "The fast-path block emptied: the hook goes on to the general path, which computes the same values. " + "Tent's closed-form BN (batchNormTrain) and the autodiff path through tf.moments and tf.batchNorm give the same values (tests/strategies/normStats.test.ts checks closed form = autodiff over 3 steps); the mutant only moves a batch between the two, which changes speed, not results.",
  'strategies/normStats.ts:237:9 ConditionalExpression':
    'At alpha 1 the mix (1 - 1) * source + 1 * batch is the batch statistics bit for bit (the mixing kernels compute it exactly), so skipping the shortcut changes nothing.',
  'src/model/executor.ts:145:9 ConditionalExpression':
    '`if (features.rank !== 2)` to `if (true)`: reshaping a [batch, features] tensor to [batch, -1] gives the same shape and values.',
  'src/model/executor.ts:183:11 ConditionalExpression':
    '`if (t === undefined) continue` to `if (false)`: an id is released only by a consumer that has just read its value, and `new Set(ids)` releases it once per consumer, so its value is always still there. The guard is defensive.',
  'src/model/executor.ts:212:13 ConditionalExpression':
    '`if (w !== null)` to `if (true)`: the fold cache returns null only when a source weight was disposed (a disposed model); the unfolded layer then fails on the same disposed weight, so both paths throw.',
  'src/model/executor.ts:215:15 ConditionalExpression':
    '`if (group.actStep !== null) skip.add(...)` to `if (true)`: adding null to the set of skipped step indices skips nothing (indices are numbers).',
  'src/model/executor.ts:224:27 ConditionalExpression':
    '`xs.length === 1` dropped from the taped-conv test: only Conv2D layers are in `plainConvs`, and a Conv2D has one input.',
  'src/model/executor.ts:225:21 ConditionalExpression':
    'A one-element list passed to `layer.apply` instead of the tensor: tfjs-layers unwraps a one-element input list (getExactlyOneTensor) for every layer type the tests run (conv, depthwise, BN, activation, pooling, dense, dropout, LSTM).',
  'src/model/executor.ts:250:9 ConditionalExpression':
    '`if (hooks === undefined) return true` to `if (false)`: hookFor(undefined, name) returns undefined, so the full check then also returns true.',
  'src/model/weights.ts:14:25 ConditionalExpression':
    "deepCopy's float32 branch skipped: the int32 branch (a copy through dataSync into a new tensor) gives the same bits for float32 too, -0 and NaN payloads included; the multiply by 1 only avoids a round trip through JS memory.",
  'src/model/weights.ts:14:37 StringLiteral':
    'Same as weights.ts:14:25: the comparison with "" is always false, so every tensor takes the dataSync copy, with the same bits.',
  'src/model/weights.ts:214:44 OptionalChaining':
    "`expected?.get(name)?.nonNegative` to `expected?.get(name).nonNegative`: without `expected` the optional chain stops at `expected?` either way, and with it every name was checked to be in `expected` above, so `get` never returns undefined.",
  'strategies/roid.ts:182:19 ConditionalExpression':
    "The EMA's norm loop skipped (norm 0, clamped to 1e-8): the norm only scales every sample's cosine by the same factor, so `div = 1 - cos` changes by a positive affine map, which the min-max normalisation that follows undoes. The weights, the mask and the EMA are the same.",
  'strategies/roid.ts:182:19 EqualityOperator':
    "Same as roid.ts:182:19 ConditionalExpression: `k >= c` never runs the loop.",
  'strategies/roid.ts:197:25 MethodExpression':
    "`Math.max(emaNorm, 1e-8)` to `Math.min(...)`, i.e. the constant 1e-8 (the EMA's norm is at least 1/sqrt(C)): a common factor of every sample's cosine, undone by the min-max normalisation (see roid.ts:182:19).",
  'strategies/roid.ts:318:18 BooleanLiteral':
    "`augRan` starting true: finish() on the augmented pass's statistics when that pass did not run has nothing pending, so it commits nothing (its drift figures are not used).",
  'strategies/roid.ts:371:9 ConditionalExpression':
    "Same as roid.ts:318:18: finish() with nothing pending commits nothing.",
  'strategies/roid.ts:343:30 ConditionalExpression':
    "`kept.length > 0` always true: with weighting, the mask drops only samples below the mean diversity, so at least one is kept; without it, all are. The test is defensive.",
  'strategies/roid.ts:343:30 EqualityOperator':
    "Same as roid.ts:343:30 ConditionalExpression (`>= 0`).",
  'src/model/target.ts:72:98 ConditionalExpression':
    "`d === null` dropped: tfjs reads a graph model's free input dimensions as -1 (the converter writes size '-1'), never null, so only the -1 test can be true.",
  'src/model/target.ts:76:26 ConditionalExpression':
    "Same as target.ts:72:98, for the batch dimension: it is -1 when free, never null.",
  'strategies/cotta.ts:98:11 ConditionalExpression':
    "calibratedThreshold's `batches > 1 ? lowest + pos * (second - lowest) : lowest`: at batches = 1, pos = 0.05 * (1 - 1) = 0, so both branches give `lowest` (second is always finite: it starts at 1).",
  'strategies/cotta.ts:98:11 EqualityOperator':
    "Same as cotta.ts:98:11 ConditionalExpression (`batches >= 1`).",
  'strategies/cotta.ts:184:32 EqualityOperator':
    "`confidence < c.lowest` to `<=`: on a tie both branches give [lowest, lowest] (the second-lowest is min(second, confidence) = lowest, since lowest <= second).",
  'strategies/roid.ts:370:31 ConditionalExpression':
    "`c.momentumSrc < 1` dropped: at momentumSrc 1 the ensembling is p = 1 * p + 0 * source, which leaves every parameter bit for bit as it was.",
  'strategies/roid.ts:370:31 EqualityOperator':
    "Same as roid.ts:370:31 ConditionalExpression (`<= 1`).",
};
