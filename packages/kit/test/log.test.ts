import t from "tap";
import { createLogger } from "../src/log";

t.test("secrets are redacted wherever Parley's messages carry them", async (t) => {
  const lines: string[] = [];
  const log = createLogger({
    service: "test",
    destination: { write: (line: string) => void lines.push(line) },
  });
  log.info(
    {
      code: "123456",
      request: { resetToken: "reset-secret", newPassword: "pass-secret", mfaCode: "654321" },
      response: { enrolment: { otpauthUri: "otpauth://totp/x?secret=TOTPSECRET", backupCodes: ["bk-1"] } },
      call: { metadata: { headers: { authorization: "Bearer token-secret" } } },
      headers: { "x-api-key": "pk_key-secret" },
      grpcCode: "OK",
    },
    "call",
  );
  const line = lines.join("");
  for (const secret of [
    "123456",
    "reset-secret",
    "pass-secret",
    "654321",
    "TOTPSECRET",
    "bk-1",
    "token-secret",
    "pk_key-secret",
  ])
    t.notOk(line.includes(secret), `${secret} is not in the log`);
  t.match(
    JSON.parse(line),
    { grpcCode: "OK", request: { resetToken: "[redacted]" } },
    "the rest stays readable",
  );
});
