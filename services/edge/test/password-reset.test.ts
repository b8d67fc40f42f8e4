import { randomUUID } from "node:crypto";
import { eventually, startSmsReceiver, startSmtpReceiver } from "@parley/testing";
import t from "tap";
import { PASSWORD, startPlatform } from "./harness";

const RESET_PAGE = "https://app.parley.example/reset-password";
/** The token in a reset link (the fragment), as the message carries it. */
const linked = (text: string) =>
  new RegExp(`${RESET_PAGE.replace(/[./]/g, "\\$&")}#token=([\\w-]{16,})`).exec(text)?.[1] ?? "";

t.test(
  "a password reset reaches the address asked for by email or SMS, the token works once, an address with no account hears so",
  async (t) => {
    const smtp = await startSmtpReceiver(t);
    const sms = await startSmsReceiver(t);
    const api = await startPlatform(t, {
      user: { SMTP_URL: smtp.url, PASSWORD_RESET_URL: RESET_PAGE, ...sms.env("+15550001111") },
    });
    const email = `reset-${randomUUID()}@example.com`;
    const phone = "+919812345678";
    const registered = await api.call("POST", "/v1/auth/register", {
      body: { email, phone, password: PASSWORD, display_name: "Rita" },
    });
    t.equal(registered.status, 200, JSON.stringify(registered.body));
    const mailsTo = (address: string) => smtp.received.filter((m) => m.to.includes(address));
    const reset = (resetToken: string, newPassword: string) =>
      api.call("POST", "/v1/auth/password:reset", {
        body: { reset_token: resetToken, new_password: newPassword },
      });
    const login = (identifier: string, password: string) =>
      api.call("POST", "/v1/auth/login", { body: { identifier, password } });

    // By email: a link to the apps' reset page, the token in its fragment.
    const asked = await api.call("POST", "/v1/auth/password:requestReset", { body: { identifier: email } });
    t.equal(asked.status, 200, JSON.stringify(asked.body));
    const [mail] = await eventually(
      async () => mailsTo(email),
      (found) => found.length >= 1,
    );
    t.equal(mail?.subject, "Reset your Parley password");
    const byEmail = linked(mail?.text ?? "");
    t.match(byEmail, /^[\w-]{43}$/, "the email links to the reset page with the token");
    const emailed = await reset(byEmail, "a new passphrase by email");
    t.equal(emailed.status, 200, JSON.stringify(emailed.body));
    t.equal((await login(email, "a new passphrase by email")).status, 200, "the new password signs in");
    t.equal((await login(email, PASSWORD)).status, 401, "the old one no longer does");
    t.equal(
      (await reset(byEmail, "yet another passphrase")).body.error?.reason,
      "RESET_TOKEN_INVALID",
      "the token works once",
    );

    // By SMS, through the provider's API, when the reset is asked for by phone number (the
    // security notices of the change and the sign-in above go there too).
    t.equal(
      (await api.call("POST", "/v1/auth/password:requestReset", { body: { identifier: phone } })).status,
      200,
    );
    const [text] = await eventually(
      async () =>
        sms.requests.filter(
          (r) =>
            r.authorised &&
            r.form.get("To") === phone &&
            r.form.get("Body")?.startsWith("Reset your Parley password"),
        ),
      (found) => found.length >= 1,
    );
    const bySms = linked(text?.form.get("Body") ?? "");
    t.match(bySms, /^[\w-]{43}$/, "the SMS carries the link");
    t.not(bySms, byEmail);
    t.equal((await reset(bySms, "a new passphrase by text")).status, 200);
    t.equal((await login(phone, "a new passphrase by text")).status, 200);

    // An address no account uses: its owner hears of the attempt, and the answer is the same.
    const stranger = `nobody-${randomUUID()}@example.com`;
    const unknown = await api.call("POST", "/v1/auth/password:requestReset", {
      body: { identifier: stranger },
    });
    t.equal(unknown.status, 200, "the answer does not say whether an account exists");
    const [notice] = await eventually(
      async () => mailsTo(stranger),
      (found) => found.length >= 1,
    );
    t.match(notice?.text, /no Parley account uses it/);
    t.notMatch(notice?.text, /#token=/, "and carries no token");
  },
);

t.test(
  "a reset message speaks the locale its owner chose, else the asker's Accept-Language, else English",
  async (t) => {
    const smtp = await startSmtpReceiver(t);
    const api = await startPlatform(t, { user: { SMTP_URL: smtp.url, PASSWORD_RESET_URL: RESET_PAGE } });
    const mailTo = async (address: string) => {
      const [mail] = await eventually(
        async () => smtp.received.filter((m) => m.to.includes(address)),
        (found) => found.length >= 1,
      );
      return mail!;
    };
    const ask = (identifier: string, acceptLanguage?: string) =>
      api.call("POST", "/v1/auth/password:requestReset", {
        body: { identifier },
        ...(acceptLanguage ? { headers: { "accept-language": acceptLanguage } } : {}),
      });

    // Chose Hindi in their profile: a reset asked from an English browser still comes in Hindi.
    const chose = await api.register(`hindi-${randomUUID()}@example.com`);
    const preferences = {
      locale: "hi-IN",
      time_zone: "",
      email_notifications: true,
      push_notifications: true,
    };
    const set = await api.call("PATCH", "/v1/me", { token: chose.accessToken, body: { preferences } });
    t.equal(set.status, 200, JSON.stringify(set.body));
    t.equal((await ask(chose.email, "en-GB,en;q=0.9")).status, 200);
    const chosen = await mailTo(chose.email);
    t.equal(chosen.subject, "अपना Parley पासवर्ड रीसेट करें", "the subject is in Hindi");
    t.match(
      chosen.text,
      /नया पासवर्ड चुनने के लिए .+ से पहले .+#token=[\w-]{43} खोलें/,
      "so is the text, link and all",
    );
    const token = linked(chosen.text);
    const reset = await api.call("POST", "/v1/auth/password:reset", {
      body: { reset_token: token, new_password: "एक नया लंबा पासवर्ड" },
    });
    t.equal(reset.status, 200, "its token works");

    // No locale of their own: the asker's best language Parley has ("fr" it has not).
    const plain = await api.register(`plain-${randomUUID()}@example.com`);
    t.equal((await ask(plain.email, "fr-FR, hi;q=0.8, en;q=0.5")).status, 200);
    t.equal((await mailTo(plain.email)).subject, "अपना Parley पासवर्ड रीसेट करें");
    const english = await api.register(`english-${randomUUID()}@example.com`);
    t.equal((await ask(english.email, "de-DE")).status, 200);
    t.equal((await mailTo(english.email)).subject, "Reset your Parley password", "none it has: English");

    // No account: the notice in the asker's language.
    const stranger = `nobody-${randomUUID()}@example.com`;
    t.equal((await ask(stranger, "hi-IN")).status, 200);
    const notice = await mailTo(stranger);
    t.equal(notice.subject, "Parley पासवर्ड रीसेट");
    t.match(notice.text, /कोई भी Parley खाता इसका उपयोग नहीं करता/);
  },
);
