import { invalidArgument } from "@parley/kit/errors";

export interface Cursor {
  at: Date;
  id: string;
}

export const encodeCursor = (cursor: Cursor | undefined): string =>
  cursor ? Buffer.from(JSON.stringify([cursor.at.toISOString(), cursor.id])).toString("base64url") : "";

export function decodeCursor(token: string): Cursor | undefined {
  if (!token) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as [string, string];
    const date = new Date(at);
    if (typeof id !== "string" || Number.isNaN(date.getTime())) throw new Error("bad cursor");
    return { at: date, id };
  } catch {
    throw invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this RPC returned");
  }
}

/** page_size: 0 → 20, at most 100. */
export function pageSize(requested: number): number {
  if (requested < 0) throw invalidArgument("VALIDATION_FAILED", "page_size must not be negative");
  return Math.min(requested || 20, 100);
}
