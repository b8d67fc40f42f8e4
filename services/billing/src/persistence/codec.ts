/**
 * Stored idempotent responses keep bigints and dates exact: bigints as {"$bigint": digits},
 * dates as {"$date": iso}; plain strings are never reinterpreted, so a replay returns exactly
 * the original result.
 */
export function encodeResponse(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, item: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (typeof item === "bigint") return { $bigint: item.toString() };
    return item;
  });
}

export function decodeResponse<T>(text: string): T {
  return JSON.parse(text, (_key, item: unknown) => {
    if (item && typeof item === "object") {
      if ("$bigint" in item) return BigInt((item as { $bigint: string }).$bigint);
      if ("$date" in item) return new Date((item as { $date: string }).$date);
    }
    return item;
  }) as T;
}
