/**
 * `work` over `items`, at most `size` at a time (a batch starts when the one before has
 * settled), the results in the items' order. For fan-outs to another service that should not
 * all be in flight at once.
 */
export async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size)
    results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}
