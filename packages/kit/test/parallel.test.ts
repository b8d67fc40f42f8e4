import t from "tap";
import { inParallel } from "../src/parallel";

t.test("inParallel: at most `limit` in flight, results in the items' order", async (t) => {
  let inFlight = 0;
  let most = 0;
  const results = await inParallel([5, 1, 4, 2, 3, 0, 6], 3, async (ms) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, ms * 5));
    inFlight -= 1;
    return ms * 10;
  });
  t.same(results, [50, 10, 40, 20, 30, 0, 60]);
  t.equal(most, 3, "three at a time, never more");
  t.same(await inParallel([], 3, async () => 1), [], "nothing to do");
});
