import { failure } from "@parley/testing";
import t from "tap";
import { isUuid, newId, requireUuid } from "../src/ids";

t.test("requireUuid gives the id lowercased and refuses anything else, naming the field", async (t) => {
  const id = newId();
  t.ok(isUuid(id));
  t.equal(requireUuid(id.toUpperCase(), "user_id"), id);
  for (const bad of ["", "not-a-uuid", `${id}x`]) {
    const refused = await failure(Promise.resolve().then(() => requireUuid(bad, "user_id")));
    t.equal(refused.reason, "VALIDATION_FAILED");
    t.same(refused.fieldViolations, [{ field: "user_id", description: "must be a UUID" }]);
  }
});
