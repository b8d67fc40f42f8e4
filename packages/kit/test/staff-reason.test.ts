import { failure } from "@parley/testing";
import t from "tap";
import { MAX_REASON_LENGTH, requireReason } from "../src/staff-reason";

t.test(
  "a staff reason is given trimmed: 1..1000 characters, else REASON_REQUIRED naming the field",
  async (t) => {
    t.equal(requireReason("  goodwill \n"), "goodwill");
    const longest = "x".repeat(MAX_REASON_LENGTH);
    t.equal(requireReason(` ${longest} `), longest, "1,000 characters once trimmed");
    for (const [text, description] of [
      ["", "required for a staff action"],
      [" \t\n", "required for a staff action"],
      [`${longest}y`, "must be at most 1000 characters"],
    ] as const) {
      const refused = await failure(Promise.resolve().then(() => requireReason(text, "note")));
      t.equal(refused.kind, "invalid_argument");
      t.equal(refused.reason, "REASON_REQUIRED");
      t.same(refused.fieldViolations, [{ field: "note", description }]);
    }
  },
);
