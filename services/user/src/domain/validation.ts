import { type FieldViolation, validationFailed } from "@parley/kit/errors";
import { isUuid } from "@parley/kit/ids";
import type { Preferences } from "./model";

const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
/** RFC 5646 §4.4.1: 35 characters hold every tag in practical use. */
const LANGUAGE_TAG_MAX = 35;
const isLanguageTag = (tag: string) => tag.length <= LANGUAGE_TAG_MAX && LANGUAGE_TAG.test(tag);

/** Collects field violations and throws them together as INVALID_ARGUMENT VALIDATION_FAILED. */
export class Violations {
  private readonly list: FieldViolation[] = [];

  add(field: string, description: string): void {
    this.list.push({ field, description });
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw validationFailed(this.list);
  }

  get first(): FieldViolation | undefined {
    return this.list[0];
  }
}

export function checkDisplayName(v: Violations, field: string, value: string): void {
  const length = value.trim().length;
  if (length < 1 || length > 80) v.add(field, "must be 1 to 80 characters");
}

export function checkAvatarUrl(v: Violations, field: string, value: string): void {
  if (value === "") return;
  if (value.length > 2048) v.add(field, "must be at most 2048 characters");
  else if (!URL.canParse(value) || new URL(value).protocol !== "https:") v.add(field, "must be an https URL");
}

export function checkText(v: Violations, field: string, value: string, max: number): void {
  if (value.length > max) v.add(field, `must be at most ${max} characters`);
}

export function checkLanguages(v: Violations, field: string, values: string[]): void {
  if (values.length > 20) v.add(field, "at most 20 languages");
  values.forEach((tag, i) => {
    if (!isLanguageTag(tag))
      v.add(`${field}[${i}]`, `must be a BCP 47 language tag of at most ${LANGUAGE_TAG_MAX} characters`);
  });
}

export function checkPreferences(v: Violations, field: string, value: Preferences): void {
  if (value.locale && !isLanguageTag(value.locale))
    v.add(`${field}.locale`, `must be a BCP 47 tag of at most ${LANGUAGE_TAG_MAX} characters`);
  if (value.timeZone && !isTimeZone(value.timeZone)) v.add(`${field}.time_zone`, "must be an IANA time zone");
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function checkUuid(v: Violations, field: string, value: string): void {
  if (!isUuid(value)) v.add(field, "must be a UUID");
}
