import type { EventBody } from "../domain/model";

/** Event bodies go to jsonb (and onto the bus) with bigints and dates tagged, so they round-trip exactly. */
export function encodeEventBody(body: EventBody, seq?: bigint): unknown {
  const withSeq =
    seq !== undefined && body.type === "message" ? { ...body, message: { ...body.message, seq } } : body;
  return JSON.parse(JSON.stringify(withSeq, replacer));
}

export function decodeEventBody(json: unknown): EventBody {
  return JSON.parse(JSON.stringify(json), reviver) as EventBody;
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
