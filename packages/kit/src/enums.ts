import { invalidArgument } from "./errors";

/**
 * One proto enum ↔ domain value table, both ways. The table is written once, domain value →
 * proto number, so the compiler checks every domain value has its proto value; the proto's
 * UNSPECIFIED (0) and any number the table does not name have no domain value.
 */
export interface EnumMapping<D extends string, P extends number> {
  /** The proto value of a domain value. */
  toProto(value: D): P;
  /** The domain value; INVALID_ARGUMENT (VALIDATION_FAILED, a violation of `field`) when unset or unknown. */
  toDomain(value: P, field: string): D;
  /** As toDomain, but unset (0) is undefined: optional fields, filters, and checks the domain makes. */
  toOptional(value: P, field: string): D | undefined;
}

export function enumMapping<D extends string, P extends number>(table: Record<D, P>): EnumMapping<D, P> {
  const domain = new Map<number, D>(Object.entries(table).map(([name, value]) => [value as P, name as D]));
  const toDomain = (value: P, field: string): D => {
    const found = domain.get(value);
    if (found !== undefined) return found;
    const description = value === 0 ? "must be set" : `has no value ${value}`;
    throw invalidArgument("VALIDATION_FAILED", `${field} ${description}`, {
      fieldViolations: [{ field, description }],
    });
  };
  return {
    toProto: (value) => table[value],
    toDomain,
    toOptional: (value, field) => (value === 0 ? undefined : toDomain(value, field)),
  };
}
