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

t.test("newId makes UUIDv7s: unique, stamped with the time, in creation order", async (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 5000 }, newId);
  const after = Date.now();
  t.equal(new Set(ids).size, ids.length, "unique");
  t.same([...ids].sort(), ids, "sorted as made, within a millisecond too");
  for (const id of ids) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id))
      t.fail(`not a UUIDv7: ${id}`);
    const ms = Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
    if (ms < before || ms > after) t.fail(`time ${ms} outside ${before}..${after}`);
  }
});
