import type { EventBody } from "../domain/model";

/**
 * An event body as JSON text (for jsonb and the bus), with bigints and dates tagged so they
 * round-trip exactly; a message body carries `seq` when given. One pass, no intermediate object.
 */
export function eventBodyJson(body: EventBody, seq?: bigint): string {
  const withSeq =
    seq !== undefined && body.type === "message" ? { ...body, message: { ...body.message, seq } } : body;
  return JSON.stringify(withSeq, replacer);
}

/** Reads a body back from parsed jsonb (or bus JSON). */
export function decodeEventBody(json: unknown): EventBody {
  return JSON.parse(JSON.stringify(json), reviver) as EventBody;
}

/** Parses JSON text written with eventBodyJson inside it, tagged values restored. */
export function parseTagged<T>(text: string): T {
  return JSON.parse(text, reviver) as T;
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (typeof raw === "bigint") return { $bigint: raw.toString() };
  if (raw instanceof Date) return { $date: raw.toISOString() };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value && typeof value === "object") {
    const tagged = value as { $bigint?: string; $date?: string };
    if (typeof tagged.$bigint === "string") return BigInt(tagged.$bigint);
    if (typeof tagged.$date === "string") return new Date(tagged.$date);
  }
  return value;
}
