/**
 * Contact details meant to take a conversation off Parley: phone numbers, email addresses,
 * payment handles (UPI ids, PayPal/Paytm/GPay links, WhatsApp or Telegram links). A scan finds
 * them; what happens then (mask, flag for review, refuse) is configuration (CONTACT_FILTER).
 */
export type ContactFilterAction = "off" | "mask" | "flag" | "refuse";

export type ContactKind = "phone" | "email" | "payment_handle" | "messenger_link";

const PATTERNS: Array<{ kind: ContactKind; pattern: RegExp }> = [
  {
    kind: "email",
    pattern:
      /[\p{L}\p{N}._%+-]+\s*(?:@|\[at\]|\(at\))\s*[\p{L}\p{N}-]+(?:\s*(?:\.|\[dot\]|\(dot\))\s*[\p{L}\p{N}-]+)+/giu,
  },
  // UPI virtual payment addresses: name@bank (no dot after the handle, unlike an email).
  {
    kind: "payment_handle",
    pattern:
      /\b[\w.-]{2,}@(?:ok\w+|ybl|ibl|axl|upi|paytm|apl|axisbank|icici|sbi|hdfcbank|kotak|yapl|fbl|pthdfc|ptsbi|ptaxis|ptyes)\b/giu,
  },
  {
    kind: "payment_handle",
    pattern: /\b(?:paypal\.me|paytm\.me|venmo\.com|cash\.app|buymeacoffee\.com|ko-fi\.com)\/\S+/giu,
  },
  { kind: "payment_handle", pattern: /\bupi:\/\/\S+/giu },
  { kind: "messenger_link", pattern: /\b(?:wa\.me|t\.me|telegram\.me|chat\.whatsapp\.com)\/\S+/giu },
  // Ten or more digits, allowing spaces, dots, dashes and brackets between them, and a leading +.
  { kind: "phone", pattern: /(?:\+\s*)?\d(?:[\s().-]*\d){9,14}/gu },
];

export interface ContactMatch {
  kind: ContactKind;
  start: number;
  end: number;
}

/** Every contact detail in a text, leftmost first, overlapping matches merged. */
export function scanContacts(text: string, patterns = PATTERNS): ContactMatch[] {
  const found: ContactMatch[] = [];
  for (const { kind, pattern } of patterns)
    for (const match of text.matchAll(pattern))
      found.push({ kind, start: match.index, end: match.index + match[0].length });
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: ContactMatch[] = [];
  for (const match of found) {
    const last = merged.at(-1);
    if (last && match.start < last.end) last.end = Math.max(last.end, match.end);
    else merged.push({ ...match });
  }
  return merged;
}

/**
 * Payment handles and messenger links only: ordinary links' digits (ids, timestamps) would pass
 * for phone numbers and their `name@2x.png` for email addresses.
 */
const LINK_PATTERNS = PATTERNS.filter(({ kind }) => kind === "payment_handle" || kind === "messenger_link");

/**
 * Contact details in an attachment's link (`https://wa.me/…`, `https://paypal.me/…`), read as a
 * browser reads it (`HTTPS://wa%2Eme/…` is `https://wa.me/…`); none in anything but an https URL.
 */
export function scanLink(url: string): ContactMatch[] {
  if (!URL.canParse(url)) return [];
  const parsed = new URL(url);
  return parsed.protocol === "https:" ? scanContacts(parsed.href, LINK_PATTERNS) : [];
}

/** The text with every match replaced by a mask of the same kind. */
export function maskContacts(text: string, matches: ContactMatch[]): string {
  let out = "";
  let at = 0;
  for (const match of matches) {
    out += `${text.slice(at, match.start)}[${match.kind.replace("_", " ")} removed]`;
    at = match.end;
  }
  return out + text.slice(at);
}
