import type { DeliveryMessage } from "./model";
import type { Locale } from "./templates";

/** What a message to an address says: its kind, title, text and the secret it carries. */
export type AddressMessage = Pick<DeliveryMessage, "kind" | "title" | "body" | "secret">;

/** A time as a message states it: "2026-12-07 10:45 UTC". */
const stated = (at: Date) => `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;

/**
 * The messages sent to an address rather than to a person's inbox (a verification code, a
 * password reset, a no-account notice), per locale. Each secret is named, so a log standing in
 * for a channel can withhold it.
 */
export const ADDRESS_MESSAGES: Record<
  Locale,
  {
    verificationCode(code: string, minutes: number): AddressMessage;
    /** `link` is the reset page (token in its fragment); without one the token is a code to enter. */
    passwordReset(token: string, expiresAt: Date, link?: string): AddressMessage;
    noAccountNotice(): AddressMessage;
  }
> = {
  en: {
    verificationCode: (code, minutes) => ({
      kind: "verification_code",
      title: "Your Parley verification code",
      body: `Your Parley code is ${code}. It expires in ${minutes} minutes. Never share it.`,
      secret: code,
    }),
    passwordReset: (token, expiresAt, link) => ({
      kind: "password_reset",
      title: "Reset your Parley password",
      body:
        "Someone asked to reset the password of the Parley account that uses this address. To choose " +
        `a new one, ${
          link
            ? `open ${link} before ${stated(expiresAt)}`
            : `enter this reset code in the app before ${stated(expiresAt)}: ${token}`
        }. It works once. If it was not you, ignore this message: your password stays as it is.`,
      secret: token,
    }),
    noAccountNotice: () => ({
      kind: "no_account_notice",
      title: "Parley password reset",
      body:
        "Someone asked to reset a Parley password for this address, but no Parley account uses it. " +
        "If it was not you, ignore this message.",
    }),
  },
  hi: {
    verificationCode: (code, minutes) => ({
      kind: "verification_code",
      title: "आपका Parley सत्यापन कोड",
      body: `आपका Parley कोड ${code} है। यह ${minutes} मिनट में समाप्त हो जाएगा। इसे किसी के साथ साझा न करें।`,
      secret: code,
    }),
    passwordReset: (token, expiresAt, link) => ({
      kind: "password_reset",
      title: "अपना Parley पासवर्ड रीसेट करें",
      body:
        "किसी ने इस पते का उपयोग करने वाले Parley खाते का पासवर्ड रीसेट करने का अनुरोध किया है। नया पासवर्ड " +
        `चुनने के लिए ${
          link
            ? `${stated(expiresAt)} से पहले ${link} खोलें`
            : `${stated(expiresAt)} से पहले ऐप में यह रीसेट कोड डालें: ${token}`
        }। यह केवल एक बार काम करता है। अगर यह आप नहीं थे, तो इस संदेश को अनदेखा करें: आपका पासवर्ड वैसा ही रहेगा।`,
      secret: token,
    }),
    noAccountNotice: () => ({
      kind: "no_account_notice",
      title: "Parley पासवर्ड रीसेट",
      body:
        "किसी ने इस पते के लिए Parley पासवर्ड रीसेट करने का अनुरोध किया, लेकिन कोई भी Parley खाता इसका उपयोग " +
        "नहीं करता। अगर यह आप नहीं थे, तो इस संदेश को अनदेखा करें।",
    }),
  },
};
