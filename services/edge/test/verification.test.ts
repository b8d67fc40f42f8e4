import { randomUUID } from "node:crypto";
import { eventually, startSmsReceiver, startSmtpReceiver } from "@parley/testing";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";

t.test(
  "email and phone verification by a one-time code through the delivery channels, five wrong guesses spend a code",
  async (t) => {
    const smtp = await startSmtpReceiver(t);
    const sms = await startSmsReceiver(t);
    const api = await startPlatform(t, { user: { SMTP_URL: smtp.url, ...sms.env("+15550001111") } });
    const email = `verify-${randomUUID()}@example.com`;
    const registered = await api.call("POST", "/v1/auth/register", {
      body: { email, phone: "+919812340000", password: PASSWORD, display_name: "Vera" },
    });
    t.equal(registered.status, 200);
    t.equal(registered.body.account.email_verified, false);
    const token: string = registered.body.tokens.access_token;
    const codeFor = async (count: number) => {
      const mails = await eventually(
        async () => smtp.received.filter((m) => m.to.includes(email)),
        (found) => found.length >= count,
      );
      const match = /code is (\d{6})/.exec(mails.at(-1)?.text ?? "");
      return match?.[1] ?? "";
    };
    const ask = (channel: string, headers: Record<string, string> = {}) =>
      api.call("POST", "/v1/me/contact:requestVerification", { token, body: { channel }, headers });
    const verify = (channel: string, code: string) =>
      api.call("POST", "/v1/me/contact:verify", { token, body: { channel, code } });

    const sent = await ask("CONTACT_CHANNEL_EMAIL");
    t.equal(sent.status, 200, JSON.stringify(sent.body));
    t.match(sent.body.sent_to, /^v\*\*\*@example\.com$/, "masked");
    const first = await codeFor(1);
    t.match(first, /^\d{6}$/, "the code arrives by email");
    const wrong = first === "000000" ? "111111" : "000000";
    for (let left = 4; left >= 1; left--) {
      const guess = await verify("CONTACT_CHANNEL_EMAIL", wrong);
      t.equal(guess.body.error?.reason, "CODE_INVALID");
      t.equal(guess.body.error?.details?.metadata?.attempts_left, String(left));
    }
    const fifth = await verify("CONTACT_CHANNEL_EMAIL", wrong);
    t.equal(fifth.status, 429, "the fifth wrong guess spends the code");
    const late = await verify("CONTACT_CHANNEL_EMAIL", first);
    t.equal(late.body.error?.reason, "VERIFICATION_NOT_REQUESTED", "even the right code is refused then");

    t.equal((await ask("CONTACT_CHANNEL_EMAIL")).status, 200);
    const second = await codeFor(2);
    const verified = await verify("CONTACT_CHANNEL_EMAIL", second);
    t.equal(verified.status, 200, JSON.stringify(verified.body));
    t.equal(verified.body.account.email_verified, true, "the email is verified");
    t.equal(verified.body.account.phone_verified, false);
    t.equal((await ask("CONTACT_CHANNEL_EMAIL")).body.error?.reason, "ALREADY_VERIFIED");

    // The phone goes by SMS, through the provider's API; sends are limited.
    const texts = (count: number) =>
      eventually(
        async () => sms.requests.filter((r) => r.authorised && r.form.get("To") === "+919812340000"),
        (found) => found.length >= count,
      );
    const smsCode = async (count: number) =>
      /code is (\d{6})/.exec((await texts(count)).at(-1)?.form.get("Body") ?? "")?.[1] ?? "";
    // Asked from an app in Hindi (the person chose no locale): the text is in Hindi.
    const texted = await ask("CONTACT_CHANNEL_PHONE", { "accept-language": "hi-IN,hi;q=0.9" });
    t.equal(texted.status, 200, JSON.stringify(texted.body));
    t.equal(texted.body.sent_to, "+91********00");
    const [hindi] = await texts(1);
    t.match(
      hindi?.form.get("Body"),
      /^आपका Parley सत्यापन कोड: आपका Parley कोड \d{6} है।/,
      "in the language the app asked in",
    );
    for (let i = 0; i < 4; i++) t.equal((await ask("CONTACT_CHANNEL_PHONE")).status, 200);
    t.equal((await ask("CONTACT_CHANNEL_PHONE")).status, 429, "at most five codes an hour");
    const phoneCode = await smsCode(5);
    t.match(phoneCode, /^\d{6}$/, "the codes arrive by SMS");
    t.equal(
      (await verify("CONTACT_CHANNEL_PHONE", second)).body.error?.reason,
      "CODE_INVALID",
      "the email's code is not the phone's",
    );
    const phoneVerified = await verify("CONTACT_CHANNEL_PHONE", phoneCode);
    t.equal(phoneVerified.status, 200, JSON.stringify(phoneVerified.body));
    t.equal(phoneVerified.body.account.phone_verified, true, "the phone is verified");
    t.equal((await ask("CONTACT_CHANNEL_PHONE")).body.error?.reason, "ALREADY_VERIFIED");
  },
);
