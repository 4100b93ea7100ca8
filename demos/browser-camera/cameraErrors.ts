/**
 * What the page says when the camera cannot be opened: the browser's own errors
 * (`NotAllowedError: Permission denied`, `NotFoundError: Requested device not found`) do not say
 * what to do, and a page served over plain http from another machine has no `getUserMedia` at
 * all (the camera needs a secure context: localhost or https), which is not "this browser has no
 * camera API".
 */

/** Where the page runs, as the camera error message needs it. */
export interface CameraContext {
  /** `window.isSecureContext`. */
  secure: boolean;
  /** `navigator.mediaDevices?.getUserMedia` exists. */
  hasApi: boolean;
  /** `location.origin`, e.g. `http://192.168.1.20:8080`. */
  origin: string;
}

/** The message when there is no camera API (err null) or `getUserMedia` rejected with `err`. */
export function cameraErrorMessage(err: unknown, where: CameraContext): string {
  const fallback = 'The sample stream works without a camera.';
  if (!where.secure) {
    const port = /:(\d+)$/.exec(where.origin)?.[1];
    return (
      `The camera needs a secure page: this one is served over plain http from ${where.origin}, so the browser offers no camera API. ` +
      `Open it as http://localhost${port ? `:${port}` : ''}/ on the machine running the server, or serve it over https. ${fallback}`
    );
  }
  if (!where.hasApi || err === null) return `This browser has no camera API (navigator.mediaDevices.getUserMedia). ${fallback}`;
  const name = (err as { name?: unknown } | null)?.name;
  const message = (err as { message?: unknown } | null)?.message;
  const detail = `(${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message : String(err)})`;
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Camera access was refused ${detail}: allow the camera for this site (the icon in the address bar, or the browser's site settings), then press Camera again. ${fallback}`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No camera was found ${detail}: connect one, then press Camera again. ${fallback}`;
    case 'NotReadableError':
    case 'AbortError':
      return `The camera could not be started ${detail}: another application or tab may be using it. Close it, then press Camera again. ${fallback}`;
    default:
      return `The camera could not be opened ${detail}. ${fallback}`;
  }
}
