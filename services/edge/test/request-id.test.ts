import t from "tap";
import { newRequestId } from "../src/request-id";

t.test("request ids are UUIDv7s, unique, stamped with the time", async (t) => {
  const before = Date.now();
  const ids = Array.from({ length: 1000 }, newRequestId);
  const after = Date.now();
  t.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
    t.ok(ms >= before && ms <= after);
  }
});
