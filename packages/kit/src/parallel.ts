/**
 * `work` over `items`, at most `limit` in flight at once (each free slot takes the next item),
 * the results in the items' order; the first failure rejects, as Promise.all does. For fan-outs
 * to another service that should not all be in flight at once.
 */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!);
      }
    }),
  );
  return results;
}
