// Messages auth asks the user service to send to an address (UserStaffService): password resets
// and no-account notices, through the channel's adapter or, where a channel has none, the log
// that stands in for it, which never shows the reset token; in the language of their reader.
import { randomBytes } from "node:crypto";
import { createLogger } from "@parley/kit/log";
import { startSmtpReceiver } from "@parley/testing";
import t from "tap";
import { emailAdapter } from "../src/delivery/email";
import { blankProfile, failure, startHarness } from "./harness";

/** A logger whose lines are kept, parsed. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({
    service: "user",
    level: "info",
    destination: { write: (text: string) => void lines.push(JSON.parse(text)) },
  });
  return { log, lines };
}

const token = () => randomBytes(32).toString("base64url");
const expiresAt = new Date("2026-12-07T10:45:00Z");
/** A reset for nobody in particular: no account to take a locale from, no Accept-Language. */
const anyone = { userId: "", acceptLanguage: "" };
const ENGLISH_RESET = "Reset your Parley password";
const HINDI_RESET = "अपना Parley पासवर्ड रीसेट करें";

t.test(
  "with no provider for a channel, the log shows the message with its token or code withheld",
  async (t) => {
    const { log, lines } = capturedLog();
    // Email without SMTP_URL (logged, not sent); no SMS provider at all.
    const h = await startHarness(t, {
      log,
      delivery: { adapters: { email: emailAdapter({ from: "Parley <no-reply@parley.local>", log }) } },
    });
    const byEmail = token();
    await h.staff.sendPasswordReset(
      { address: "rita@example.com", sms: false, resetToken: byEmail, expiresAt, ...anyone },
      h.as.auth,
    );
    const bySms = token();
    await h.staff.sendPasswordReset(
      { address: "+919812345678", sms: true, resetToken: bySms, expiresAt, ...anyone },
      h.as.auth,
    );
    await h.staff.sendNoAccountNotice(
      { address: "nobody@example.com", sms: false, acceptLanguage: "" },
      h.as.auth,
    );
    await h.staff.sendVerificationCode(
      {
        userId: "",
        address: "+919800000001",
        sms: true,
        code: "482913",
        validMinutes: 10,
        acceptLanguage: "",
      },
      h.as.auth,
    );

    const written = JSON.stringify(lines);
    t.notOk(written.includes(byEmail), "the emailed token is not in the log");
    t.notOk(written.includes(bySms), "the texted token is not in the log");
    const email = lines.find((line) => line.to === "rita@example.com");
    t.match(
      email?.text,
      /enter this reset code in the app before 2026-12-07 10:45 UTC: \[withheld\]\. It works once\./,
    );
    const text = lines.find((line) => line.channel === "sms" && line.kind === "password_reset");
    t.equal(text?.kind, "password_reset");
    t.match(text?.text, /reset code in the app before 2026-12-07 10:45 UTC: \[withheld\]/);
    const notice = lines.find((line) => line.to === "nobody@example.com");
    t.match(notice?.text, /no Parley account uses it/);
    const code = lines.find((line) => line.kind === "verification_code");
    t.equal(code?.text, "Your Parley code is [withheld]. It expires in 10 minutes. Never share it.");
    t.notOk(written.includes("482913"), "nor is the verification code");
  },
);

t.test("with PASSWORD_RESET_URL the email links to it, the token in the fragment", async (t) => {
  const smtp = await startSmtpReceiver(t);
  const { log } = capturedLog();
  const h = await startHarness(t, {
    passwordResetUrl: "https://app.parley.example/reset",
    delivery: {
      adapters: { email: emailAdapter({ smtpUrl: smtp.url, from: "Parley <no-reply@parley.local>", log }) },
    },
  });
  const sent = token();
  await h.staff.sendPasswordReset(
    { address: "rita@example.com", sms: false, resetToken: sent, expiresAt, ...anyone },
    h.as.auth,
  );
  const [mail] = smtp.received;
  t.ok(mail?.text.includes(`https://app.parley.example/reset#token=${sent}`), "the link carries the token");
  t.same(mail?.to, ["rita@example.com"]);
});

t.test("each message is in its owner's chosen locale, else the asker's Accept-Language", async (t) => {
  const { log, lines } = capturedLog();
  const h = await startHarness(t, {
    log,
    delivery: { adapters: { email: emailAdapter({ from: "Parley <no-reply@parley.local>", log }) } },
  });
  const person = await h.person();
  await h.client.getMe({}, person.call);
  const chooseLocale = (locale: string) =>
    h.client.updateProfile(
      {
        reason: "",
        profile: {
          ...blankProfile,
          preferences: { locale, timeZone: "", emailNotifications: true, pushNotifications: true },
        },
        updateMask: ["preferences"],
      },
      person.call,
    );
  /** The last email to an address, as the log standing in for SMTP shows it. */
  const last = (address: string) => lines.filter((line) => line.to === address).at(-1);
  const code = (userId: string, acceptLanguage = "") =>
    h.staff.sendVerificationCode(
      { userId, address: "vera@example.com", sms: false, code: "482913", validMinutes: 10, acceptLanguage },
      h.as.auth,
    );
  const reset = (userId: string, acceptLanguage: string) =>
    h.staff.sendPasswordReset(
      { address: "vera@example.com", sms: false, resetToken: token(), expiresAt, userId, acceptLanguage },
      h.as.auth,
    );

  await code(person.userId);
  t.equal(last("vera@example.com")?.subject, "Your Parley verification code", "no locale chosen: English");
  await code(person.userId, "hi-IN,en;q=0.5");
  t.equal(last("vera@example.com")?.subject, "आपका Parley सत्यापन कोड", "nor one: the app's language");
  await chooseLocale("en-IN");
  await code(person.userId, "hi-IN");
  t.equal(last("vera@example.com")?.subject, "Your Parley verification code", "English chosen: English");
  await chooseLocale("hi-IN");
  await code(person.userId);
  t.equal(
    last("vera@example.com")?.subject,
    "आपका Parley सत्यापन कोड",
    "chosen Hindi: the code comes in Hindi",
  );
  t.match(
    last("vera@example.com")?.text,
    "आपका Parley कोड [withheld] है। यह 10 मिनट में समाप्त हो जाएगा। इसे किसी के साथ साझा न करें।",
  );
  await reset(person.userId, "en-US");
  t.equal(last("vera@example.com")?.subject, HINDI_RESET, "the owner's choice beats the asker's");
  await chooseLocale("");
  await reset(person.userId, "en-US,hi;q=0.9");
  t.equal(last("vera@example.com")?.subject, ENGLISH_RESET, "no choice: the asker's first");
  await reset(person.userId, "ta-IN, hi;q=0.7, *;q=0.1");
  t.equal(last("vera@example.com")?.subject, HINDI_RESET, "the first Parley speaks");
  await reset("", "hi;q=0, en;q=0.2");
  t.equal(last("vera@example.com")?.subject, ENGLISH_RESET, "q=0 refuses a language");
  await h.staff.sendNoAccountNotice(
    { address: "nobody@example.com", sms: false, acceptLanguage: "hi" },
    h.as.auth,
  );
  t.equal(last("nobody@example.com")?.subject, "Parley पासवर्ड रीसेट");
  t.notOk(JSON.stringify(lines).includes("482913"), "no code reached the log, in either language");
});

t.test("bad requests name their field; only auth may ask", async (t) => {
  const h = await startHarness(t, { delivery: { adapters: {} } });
  const ask = (overrides: Partial<{ address: string; resetToken: string; expiresAt: Date | undefined }>) =>
    failure(
      h.staff.sendPasswordReset(
        { address: "rita@example.com", sms: false, resetToken: token(), expiresAt, ...anyone, ...overrides },
        h.as.auth,
      ),
    );
  const field = async (overrides: Parameters<typeof ask>[0]) =>
    (await ask(overrides)).fieldViolations[0]?.field;
  t.equal(await field({ address: "" }), "address");
  t.equal(await field({ address: "x".repeat(255) }), "address");
  t.equal(await field({ resetToken: "short" }), "reset_token");
  t.equal(await field({ resetToken: "not a token at all, spaces and all" }), "reset_token");
  t.equal(await field({ expiresAt: undefined }), "expires_at");
  t.equal(
    (await failure(h.staff.sendNoAccountNotice({ address: "", sms: false, acceptLanguage: "" }, h.as.auth)))
      .reason,
    "VALIDATION_FAILED",
  );
  const denied = await failure(
    h.staff.sendPasswordReset(
      { address: "rita@example.com", sms: false, resetToken: token(), expiresAt, ...anyone },
      h.as.edge,
    ),
  );
  t.equal(denied.reason, "PERMISSION_DENIED");
});
