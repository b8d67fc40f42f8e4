/** Column values as postgres.js hands them over on the raw pool. */

/** A timestamp column: a Date, or its text. */
export const date = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));

/** A json column: postgres.js parses it, or hands over its text. */
export const json = <T>(value: unknown) => (typeof value === "string" ? JSON.parse(value) : value) as T;
