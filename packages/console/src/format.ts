import type { Schemas } from "./api/client";

type Money = Schemas["parley.common.v1.Money"] | undefined;

const formatters = new Map<string, Intl.NumberFormat>();
/** Minor units as the currency is written (₹20.00); never through floats for arithmetic. */
export function money(value: Money): string {
  const currency = value?.currency || "INR";
  const minor = BigInt(value?.amount_minor ?? "0");
  let format = formatters.get(currency);
  if (!format) {
    format = new Intl.NumberFormat("en-IN", { style: "currency", currency });
    formatters.set(currency, format);
  }
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  const text = format.format(Number(abs / 100n) + Number(abs % 100n) / 100);
  return negative ? `−${text}` : text;
}

/** "END_REASON_INSUFFICIENT_FUNDS" → "insufficient funds". */
export function enumText(value: string | undefined, prefix: string): string {
  if (!value) return "";
  return value.replace(prefix, "").toLowerCase().replaceAll("_", " ");
}

export const status = (value?: string) => enumText(value, "SESSION_STATUS_");
export const endReason = (value?: string) => enumText(value, "END_REASON_");
export const availability = (value?: string) => enumText(value, "EXPERT_AVAILABILITY_");

export function time(value?: string): string {
  if (!value) return "";
  return new Date(value).toLocaleTimeString("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function dateTime(value?: string): string {
  if (!value) return "";
  return new Date(value).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
