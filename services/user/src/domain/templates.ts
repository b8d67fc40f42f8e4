import type { NotificationKind } from "./model";

/** Locales with templates; any other locale falls back to English. */
export type Locale = "en" | "hi";

interface Template {
  title: string;
  body: string;
}

/**
 * Every notification's title and text per locale. `{name}` placeholders are filled from the
 * notification's data; money arrives as `amount` (already formatted, see `render`).
 */
const TEMPLATES: Record<Locale, Record<NotificationKind, Template>> = {
  en: {
    request_waiting: {
      title: "New {session_kind} request",
      body: "{user_name} is waiting for a {session_kind} with you (position {position} in your queue).",
    },
    request_cancelled: { title: "Request cancelled", body: "{user_name} cancelled their request." },
    request_expired: { title: "Request expired", body: "The request from {user_name} expired unanswered." },
    session_accepted: {
      title: "Request accepted",
      body: "{expert_name} accepted your {session_kind}. Join now.",
    },
    session_declined: { title: "Request declined", body: "{expert_name} could not take your request." },
    session_expired: {
      title: "Request expired",
      body: "{expert_name} did not answer in time. Your hold was released.",
    },
    session_ended: {
      title: "Session ended",
      body: "Your session with {expert_name} ended after {minutes} min. Charged {amount}.",
    },
    top_up_credited: { title: "Top-up received", body: "{amount} was added to your wallet." },
    refund_issued: { title: "Refund issued", body: "A refund of {amount} was issued." },
    favourite_online: { title: "{expert_name} is online", body: "{expert_name} is online now." },
    new_sign_in: {
      title: "New sign-in",
      body: "Your account was signed in to from {user_agent} ({ip}). If this was not you, change your password.",
    },
    mfa_changed: {
      title: "Two-factor authentication changed",
      body: "Two-factor authentication was {change} on your account. If this was not you, contact support.",
    },
    password_changed: {
      title: "Password changed",
      body: "Your password was changed. If this was not you, reset it now.",
    },
    report_resolved: {
      title: "Your report was reviewed",
      body: "Thank you for your report of a {target_kind}. Our moderators' decision: {resolution}.",
    },
    moderation_warning: {
      title: "A warning from Parley's moderators",
      body: "Something you did was reported ({reason}) and breaks Parley's rules: {note}",
    },
    dispute_opened: {
      title: "Dispute received",
      body: "We received your dispute about a session. Support will review it; Parley's records suggest: {proposed_outcome}.",
    },
    dispute_resolved: {
      title: "Dispute resolved",
      body: "Support resolved your dispute: {status}. Refunded: {amount}.",
    },
  },
  hi: {
    request_waiting: {
      title: "नया {session_kind} अनुरोध",
      body: "{user_name} आपके साथ {session_kind} के लिए प्रतीक्षा कर रहे हैं (आपकी कतार में स्थान {position})।",
    },
    request_cancelled: { title: "अनुरोध रद्द", body: "{user_name} ने अपना अनुरोध रद्द कर दिया।" },
    request_expired: {
      title: "अनुरोध समाप्त",
      body: "{user_name} का अनुरोध बिना उत्तर के समाप्त हो गया।",
    },
    session_accepted: {
      title: "अनुरोध स्वीकार",
      body: "{expert_name} ने आपका {session_kind} स्वीकार कर लिया। अभी जुड़ें।",
    },
    session_declined: { title: "अनुरोध अस्वीकार", body: "{expert_name} आपका अनुरोध नहीं ले सके।" },
    session_expired: {
      title: "अनुरोध समाप्त",
      body: "{expert_name} ने समय पर उत्तर नहीं दिया। आपकी राशि मुक्त कर दी गई।",
    },
    session_ended: {
      title: "सत्र समाप्त",
      body: "{expert_name} के साथ आपका सत्र {minutes} मिनट बाद समाप्त हुआ। शुल्क {amount}।",
    },
    top_up_credited: { title: "टॉप-अप प्राप्त", body: "आपके वॉलेट में {amount} जोड़े गए।" },
    refund_issued: { title: "धनवापसी जारी", body: "{amount} की धनवापसी जारी की गई।" },
    favourite_online: { title: "{expert_name} ऑनलाइन हैं", body: "{expert_name} अभी ऑनलाइन हैं।" },
    new_sign_in: {
      title: "नया साइन-इन",
      body: "आपके खाते में {user_agent} ({ip}) से साइन-इन हुआ। यदि यह आप नहीं थे, तो अपना पासवर्ड बदलें।",
    },
    mfa_changed: {
      title: "दो-चरणीय सत्यापन बदला",
      body: "आपके खाते पर दो-चरणीय सत्यापन {change} किया गया। यदि यह आप नहीं थे, तो सहायता से संपर्क करें।",
    },
    password_changed: {
      title: "पासवर्ड बदला गया",
      body: "आपका पासवर्ड बदल दिया गया। यदि यह आप नहीं थे, तो इसे अभी रीसेट करें।",
    },
    report_resolved: {
      title: "आपकी रिपोर्ट की समीक्षा हुई",
      body: "{target_kind} की रिपोर्ट के लिए धन्यवाद। मॉडरेटर का निर्णय: {resolution}।",
    },
    moderation_warning: {
      title: "Parley मॉडरेटर की चेतावनी",
      body: "आपकी एक गतिविधि की रिपोर्ट ({reason}) हुई और वह Parley के नियमों के विरुद्ध है: {note}",
    },
    dispute_opened: {
      title: "विवाद प्राप्त हुआ",
      body: "सत्र के बारे में आपका विवाद मिल गया है। सहायता टीम समीक्षा करेगी; Parley के रिकॉर्ड का सुझाव: {proposed_outcome}।",
    },
    dispute_resolved: {
      title: "विवाद का समाधान",
      body: "सहायता टीम ने आपका विवाद सुलझाया: {status}। धनवापसी: {amount}।",
    },
  },
};

/** Words the templates insert, per locale. */
const WORDS: Record<Locale, Record<string, string>> = {
  en: {
    chat: "chat",
    call: "call",
    enabled: "turned on",
    disabled: "turned off",
    person: "person",
    message: "message",
    session: "session",
    review: "review",
    dismissed: "no rule was broken",
    warned: "the person was warned",
    content_hidden: "the content was hidden",
    suspended: "the account was suspended",
    review_needed: "a review by support",
    full_refund: "a full refund",
    partial_refund: "a partial refund",
    refunded_full: "full refund",
    refunded_partial: "partial refund",
    rejected: "no refund due",
    harassment: "harassment",
    spam: "spam",
    off_platform: "moving off Parley",
    fraud: "fraud",
    inappropriate: "inappropriate content",
    other: "other",
  },
  hi: {
    chat: "चैट",
    call: "कॉल",
    enabled: "चालू",
    disabled: "बंद",
    person: "व्यक्ति",
    message: "संदेश",
    session: "सत्र",
    review: "समीक्षा",
    dismissed: "कोई नियम नहीं टूटा",
    warned: "व्यक्ति को चेतावनी दी गई",
    content_hidden: "सामग्री छिपा दी गई",
    suspended: "खाता निलंबित किया गया",
    review_needed: "सहायता टीम द्वारा समीक्षा",
    full_refund: "पूरी धनवापसी",
    partial_refund: "आंशिक धनवापसी",
    refunded_full: "पूरी धनवापसी",
    refunded_partial: "आंशिक धनवापसी",
    rejected: "कोई धनवापसी देय नहीं",
    harassment: "उत्पीड़न",
    spam: "स्पैम",
    off_platform: "Parley से बाहर ले जाना",
    fraud: "धोखाधड़ी",
    inappropriate: "अनुचित सामग्री",
    other: "अन्य",
  },
};

/** The template locale for a BCP 47 tag ("hi-IN" → hi); English otherwise. */
export function localeOf(tag: string): Locale {
  return tag.toLowerCase().split("-")[0] === "hi" ? "hi" : "en";
}

/**
 * The locale an Accept-Language header prefers among those with templates ("fr, hi;q=0.8" → hi),
 * by weight and then order; undefined when it names none of them.
 */
export function localeFromAcceptLanguage(header: string): Locale | undefined {
  const ranked = header
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.split(";").map((piece) => piece.trim());
      const q = params.find((param) => param.startsWith("q="));
      return { primary: tag.toLowerCase().split("-")[0], weight: q ? Number(q.slice(2)) : 1, index };
    })
    .filter(({ weight }) => Number.isFinite(weight) && weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  const found = ranked.find(({ primary }) => primary === "en" || primary === "hi");
  return found?.primary as Locale | undefined;
}

/** "₹12.50" from minor units and an ISO 4217 code (two decimals; the code for other currencies). */
function money(amountMinor: string, currency: string): string {
  if (!/^-?\d+$/.test(amountMinor)) return "";
  const minor = BigInt(amountMinor);
  const sign = minor < 0n ? "-" : "";
  const abs = minor < 0n ? -minor : minor;
  const units = `${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`;
  return currency === "INR" ? `${sign}₹${units}` : `${sign}${units} ${currency}`;
}

/** The title and text of a notification in a locale, placeholders filled from its data. */
export function render(kind: NotificationKind, data: Record<string, string>, locale: Locale): Template {
  const words = WORDS[locale];
  const values: Record<string, string> = {
    ...data,
    amount: money(data.amount_minor ?? "", data.currency ?? ""),
  };
  const fill = (text: string) =>
    text.replace(/\{(\w+)\}/g, (_, key: string) => {
      const value = values[key] ?? "";
      return words[value] ?? value;
    });
  const template = TEMPLATES[locale][kind];
  return { title: fill(template.title), body: fill(template.body) };
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** The text and HTML bodies of a notification's email. */
export function emailBodies(title: string, body: string): { text: string; html: string } {
  return {
    text: `${body}\n\n— Parley`,
    html: `<!doctype html><html><body style="font-family:sans-serif"><h2>${escapeHtml(title)}</h2><p>${escapeHtml(body)}</p><p style="color:#888">— Parley</p></body></html>`,
  };
}
