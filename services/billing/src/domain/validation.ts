import { type FieldViolation, invalidArgument, validationFailed } from "@parley/kit/errors";

/** ISO 4217 codes of the currencies in circulation, as the runtime's ICU data knows them. */
export const ISO_4217: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"));

const MAX_REQUEST_ID_LENGTH = 128;

/**
 * Collects field violations and throws them together: VALIDATION_FAILED for malformed fields;
 * when the only fault is a real currency this deployment does not take, CURRENCY_NOT_SUPPORTED
 * (metadata `supported`).
 */
export class Checks {
  private readonly violations: FieldViolation[] = [];
  private readonly unsupported: FieldViolation[] = [];

  constructor(private readonly currencies: ReadonlySet<string>) {}

  require(ok: boolean, field: string, description: string): this {
    if (!ok) this.violations.push({ field, description });
    return this;
  }

  requestId(value: string, field = "request_id"): this {
    return this.require(
      value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH,
      field,
      `required, at most ${MAX_REQUEST_ID_LENGTH} characters`,
    );
  }

  currency(code: string, field: string): this {
    if (!ISO_4217.has(code)) return this.require(false, field, "ISO 4217 code");
    if (!this.currencies.has(code))
      this.unsupported.push({ field, description: `one of ${[...this.currencies].join(", ")}` });
    return this;
  }

  positiveMoney(value: { amountMinor: bigint; currency: string } | undefined, field: string): this {
    this.require(value !== undefined && value.amountMinor > 0n, `${field}.amount_minor`, "must be positive");
    return value === undefined
      ? this.require(false, `${field}.currency`, "ISO 4217 code")
      : this.currency(value.currency, `${field}.currency`);
  }

  /** An amount that may be left out (meaning all of it); given, it must be positive. */
  positiveMoneyIfGiven(value: { amountMinor: bigint } | undefined, field: string): this {
    return this.require(
      value === undefined || value.amountMinor > 0n,
      `${field}.amount_minor`,
      "must be positive",
    );
  }

  done(): void {
    if (this.violations.length > 0) throw validationFailed([...this.violations, ...this.unsupported]);
    if (this.unsupported.length > 0)
      throw invalidArgument(
        "CURRENCY_NOT_SUPPORTED",
        `this platform takes ${[...this.currencies].join(", ")} only`,
        { fieldViolations: this.unsupported, metadata: { supported: [...this.currencies].join(",") } },
      );
  }
}
