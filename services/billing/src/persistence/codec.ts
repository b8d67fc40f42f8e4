/**
 * Stored idempotent responses keep bigints and dates exact: bigints as "<digits>n", dates
 * as {"$date": iso}, so a replay returns byte-for-byte the original result.
 */
export function encodeResponse(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, item: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (typeof item === "bigint") return `${item}n`;
    return item;
  });
}

export function decodeResponse<T>(text: string): T {
  return JSON.parse(text, (_key, item: unknown) => {
    if (typeof item === "string" && /^-?\d+n$/.test(item)) return BigInt(item.slice(0, -1));
    if (item && typeof item === "object" && "$date" in item)
      return new Date((item as { $date: string }).$date);
    return item;
  }) as T;
}
