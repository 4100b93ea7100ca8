/** `p`'s rejection, or a failure naming `what` if it resolved or is still pending after `ms` (a hang shows as a failure, not a test timeout). */
export async function settlesWithin(p: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(new Error(`${what} was still pending after ${ms} ms`)), ms)));
  const out = await Promise.race([p.then(() => new Error(`${what} resolved`), (e: unknown) => e), late]);
  clearTimeout(timer);
  return out;
}
