import t from "tap";
import { MAX_RECORDED_REQUEST_BYTES, recordableRequest } from "../src/secrets";

t.test(
  "a request kept for the audit log: int64 as strings, secrets left out at any depth, bounded",
  async (t) => {
    t.same(
      recordableRequest({
        userId: "u1",
        amount: { amountMinor: 9_007_199_254_740_993n, currency: "INR" },
        password: "hunter2",
        account: { accountNumber: "1234567890", ifsc: "HDFC0001234", holder: "Asha" },
        steps: [{ code: "123456", note: "kept" }],
      }),
      {
        userId: "u1",
        amount: { amountMinor: "9007199254740993", currency: "INR" },
        account: { holder: "Asha" },
        steps: [{ note: "kept" }],
      },
    );
    t.same(recordableRequest(undefined), {});
    const big = recordableRequest({ note: "x".repeat(MAX_RECORDED_REQUEST_BYTES) });
    t.same(
      big,
      { truncated: true, bytes: MAX_RECORDED_REQUEST_BYTES + 11 },
      "a larger request is recorded by its size",
    );
  },
);
