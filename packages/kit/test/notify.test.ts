import { notifyRequest } from "@parley/kit/notify";
import { NotificationKind } from "@parley/proto/parley/user/v1/user";
import t from "tap";

t.test("an intent's snake_case kind names its NotificationKind; an unknown one is refused", async (t) => {
  t.same(notifyRequest({ id: "p1:credited", userId: "u1", kind: "top_up_credited", data: { amount: "5" } }), {
    eventId: "p1:credited",
    userId: "u1",
    kind: NotificationKind.NOTIFICATION_KIND_TOP_UP_CREDITED,
    data: { amount: "5" },
  });
  t.throws(
    () => notifyRequest({ id: "x", userId: "u1", kind: "lottery_won", data: {} }),
    /unknown notification kind/,
  );
  t.throws(
    () => notifyRequest({ id: "x", userId: "u1", kind: "unrecognized", data: {} }),
    /unknown notification kind/,
  );
});
