import { type FieldViolation, validationFailed } from "../errors";

/**
 * Characters no text field of Parley may hold: NUL (Postgres cannot store it in text) and the
 * other C0 controls except tab, line feed and carriage return, DEL, and the C1 controls.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const MAX_VIOLATIONS = 10;

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

const describe = (text: string) => {
  const found = CONTROL_CHARACTER.exec(text)![0];
  const code = found.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `must not contain control characters (found U+${code}); only tab, line feed and carriage return are allowed`;
};

/**
 * The string fields of a decoded request (ts-proto shape: camelCase keys, oneofs as
 * `{ $case, value }`, maps as objects) that hold a control character, named by proto field
 * path (`profile.display_name`, `languages[2]`). Bytes, numbers and timestamps are not text.
 */
export function controlCharacterViolations(message: unknown): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const visit = (value: unknown, path: string): void => {
    if (violations.length >= MAX_VIOLATIONS) return;
    if (typeof value === "string") {
      if (CONTROL_CHARACTER.test(value)) violations.push({ field: path, description: describe(value) });
      return;
    }
    if (typeof value !== "object" || value === null || value instanceof Date || ArrayBuffer.isView(value))
      return;
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) visit(item, `${path}[${index}]`);
      return;
    }
    const record = value as Record<string, unknown>;
    if (typeof record.$case === "string" && "value" in record) {
      const field = snakeCase(record.$case);
      visit(record.value, path ? `${path.slice(0, path.lastIndexOf(".") + 1)}${field}` : field);
      return;
    }
    for (const [key, child] of Object.entries(record)) {
      const field = path ? `${path}.${snakeCase(key)}` : snakeCase(key);
      if (CONTROL_CHARACTER.test(key)) violations.push({ field, description: describe(key) });
      visit(child, field);
    }
  };
  visit(message, "");
  return violations;
}

/** Whether any string or key of a decoded request holds a control character: no paths built. */
function holdsControlCharacter(value: unknown): boolean {
  if (typeof value === "string") return CONTROL_CHARACTER.test(value);
  if (typeof value !== "object" || value === null || value instanceof Date || ArrayBuffer.isView(value))
    return false;
  if (Array.isArray(value)) return value.some(holdsControlCharacter);
  for (const key of Object.keys(value))
    if (CONTROL_CHARACTER.test(key) || holdsControlCharacter((value as Record<string, unknown>)[key]))
      return true;
  return false;
}

/**
 * Refuses (INVALID_ARGUMENT, one field violation per field) a request with control characters.
 * A clean request (nearly all) is only scanned; the violations' field paths are built for the
 * others.
 */
export function refuseControlCharacters(message: unknown): void {
  if (!holdsControlCharacter(message)) return;
  const violations = controlCharacterViolations(message);
  if (violations.length > 0) throw validationFailed(violations);
}

/** The messages of a client stream, each refused like a unary request before the handler sees it. */
export async function* checkedStream<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  for await (const message of messages) {
    refuseControlCharacters(message);
    yield message;
  }
}
