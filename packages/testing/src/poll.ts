/** Polls `read` every 200 ms until `check` passes (at most `tries` more reads, ~10 s), returning its last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  tries = 50,
): Promise<T> {
  let value = await read();
  for (let i = 0; i < tries && !check(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

/** Polls `check` every 200 ms until it gives a value (not undefined); fails naming `what` after ~10 s. */
export async function eventuallyDefined<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  const value = await eventually(check, (found) => found !== undefined);
  if (value === undefined) throw new Error(`timed out waiting for ${what}`);
  return value;
}
