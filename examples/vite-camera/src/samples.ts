/**
 * Reads samples.bin (written by the repository's `npm run examples:assets`): 'ETTASMP1',
 * count (uint32 LE), count labels (uint8), count 28x28 grayscale images (uint8). The bytes
 * are checked before use.
 */
export interface Samples {
  /** count x 28 x 28 x 1 pixels in [0, 1]. */
  pixels: Float32Array;
  labels: Uint8Array;
  count: number;
}

export function decodeSamples(bytes: Uint8Array): Samples {
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, 8));
  if (bytes.length < 12 || magic !== 'ETTASMP1') throw new Error('samples.bin: not a samples file (bad header).');
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (count === 0 || bytes.length !== 12 + count * 785) {
    throw new Error(`samples.bin: ${bytes.length} bytes do not hold ${count} labelled 28x28 images.`);
  }
  const labels = bytes.slice(12, 12 + count);
  const pixels = Float32Array.from(bytes.subarray(12 + count), (v) => v / 255);
  return { pixels, labels, count };
}
