/**
 * `/predict` input of the IoT service: the request body is hostile until validated. Accepted:
 * - `application/octet-stream`: n x 784 bytes, n 28x28 grey frames (0-255, row-major), 1 <= n <= maxFrames;
 * - `image/x-portable-graymap`: one binary PGM (`P5`), 28 x 28, maxval 1-255.
 * Anything else is a typed {@link HttpError} (4xx) naming what was wrong and what is accepted;
 * the body is read with a byte limit, so an oversized upload is cut off, never buffered whole.
 */
import type { IncomingMessage } from 'node:http';

export const FRAME_SIDE = 28;
export const FRAME_BYTES = FRAME_SIDE * FRAME_SIDE;

/** An HTTP error with a status, a stable code and a message for the client. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Reads the body, refusing more than `limit` bytes (413) as soon as it is known. The request
 * stream is not destroyed on a refusal (that would reset the socket before the 413 is sent, or
 * leave the rest of the body on a kept-alive socket to be read as the next request): the rest
 * is read and discarded (never buffered; bounded by the server's requestTimeout), and the
 * connection stays usable.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const frames = Math.floor(limit / FRAME_BYTES);
  if (declared !== undefined && !(Number(declared) >= 0)) throw new HttpError(400, 'BadContentLength', `Content-Length '${declared}' is not a byte count.`);
  if (declared !== undefined && Number(declared) > limit) {
    throw new HttpError(413, 'PayloadTooLarge', `The body is ${declared} bytes; at most ${limit} are accepted (${frames} frames of ${FRAME_BYTES} bytes).`);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      done();
      chunks.length = 0;
      req.resume(); // discard the rest (bounded by the server's requestTimeout)
      reject(new HttpError(413, 'PayloadTooLarge', `The body exceeds ${limit} bytes; at most ${frames} frames of ${FRAME_BYTES} bytes are accepted.`));
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onClose = () => {
      done();
      reject(new HttpError(400, 'IncompleteBody', 'The connection closed before the whole body arrived.'));
    };
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** Frames decoded from an upload: float32 NHWC pixels in [0, 1]. */
export interface UploadedFrames {
  data: Float32Array;
  shape: [number, 28, 28, 1];
}

const ACCEPTED = `application/octet-stream (n x ${FRAME_BYTES} bytes of 28x28 grey frames) or image/x-portable-graymap (one 28x28 binary PGM)`;

/** Validates and decodes a `/predict` body by its content type. */
export function decodeFrames(body: Uint8Array, contentType: string | undefined, maxFrames: number): UploadedFrames {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/octet-stream') return decodeRaw(body, maxFrames);
  if (type === 'image/x-portable-graymap') return decodePgm(body);
  throw new HttpError(415, 'UnsupportedMediaType', `Content-Type '${type || '(none)'}' is not accepted; send ${ACCEPTED}.`);
}

function toFrames(bytes: Uint8Array, n: number, scale: number): UploadedFrames {
  const data = new Float32Array(n * FRAME_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = bytes[i]! / scale;
  return { data, shape: [n, 28, 28, 1] };
}

function decodeRaw(body: Uint8Array, maxFrames: number): UploadedFrames {
  if (body.length === 0 || body.length % FRAME_BYTES !== 0) {
    throw new HttpError(400, 'InvalidFrame', `The body is ${body.length} bytes; it must be a whole number of 28x28 grey frames (${FRAME_BYTES} bytes each, 1 to ${maxFrames}).`);
  }
  const n = body.length / FRAME_BYTES;
  if (n > maxFrames) throw new HttpError(413, 'PayloadTooLarge', `${n} frames sent; at most ${maxFrames} per request.`);
  return toFrames(body, n, 255);
}

/** A strict binary PGM (P5) reader: 28 x 28, maxval 1-255, header comments allowed, exact length. */
function decodePgm(body: Uint8Array): UploadedFrames {
  const bad = (why: string) => new HttpError(400, 'InvalidFrame', `Not a 28x28 binary PGM: ${why}.`);
  if (body[0] !== 0x50 || body[1] !== 0x35) throw bad("it must start with 'P5'");
  let at = 2;
  const isSpace = (c: number | undefined) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const readInt = (name: string): number => {
    for (;;) {
      while (isSpace(body[at])) at++;
      if (body[at] !== 0x23) break; // '#' comment to end of line
      while (at < body.length && body[at] !== 0x0a && body[at] !== 0x0d) at++;
    }
    const start = at;
    while (at < body.length && body[at]! >= 0x30 && body[at]! <= 0x39 && at - start < 6) at++;
    if (at === start) throw bad(`the header's ${name} is missing or not a number`);
    return Number(Buffer.from(body.subarray(start, at)).toString('ascii'));
  };
  const width = readInt('width');
  const height = readInt('height');
  const maxval = readInt('maxval');
  if (width !== FRAME_SIDE || height !== FRAME_SIDE) throw bad(`it is ${width}x${height}`);
  if (maxval < 1 || maxval > 255) throw bad(`maxval ${maxval} is not 1-255 (16-bit PGM is not accepted)`);
  if (!isSpace(body[at])) throw bad('the header must end with one whitespace byte');
  at++;
  const pixels = body.subarray(at);
  if (pixels.length !== FRAME_BYTES) throw bad(`it has ${pixels.length} pixel bytes, not ${FRAME_BYTES}`);
  for (const p of pixels) if (p > maxval) throw bad(`a pixel value ${p} exceeds maxval ${maxval}`);
  return toFrames(pixels, 1, maxval);
}
