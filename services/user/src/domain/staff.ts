import { invalidArgument, unavailable } from "@parley/kit/errors";
import { isUuid, newId, requireUuid } from "@parley/kit/ids";
import { ADDRESS_MESSAGES, type AddressMessage } from "./address-messages";
import type { DeliveryMessage, DeliveryOutcome, DeliveryTarget, ProfileStatus } from "./model";
import type { NotificationStore } from "./ports";
import { type Locale, localeFromAcceptLanguage, localeOf } from "./templates";

export type { ProfileStatus };

export interface ProfileSummary {
  userId: string;
  displayName: string;
  partnerId: string | null;
  externalId: string | null;
  status: ProfileStatus;
}

export type ProfileQuery = { name: string } | { externalId: string } | { userIds: string[] };

/** Profiles as the back office changes them (auth's BackOfficeService authorises and audits). */
export interface ProfileStatusStore {
  /** Sets the status of an existing profile; false when there is none (nothing to hide yet). */
  setStatus(userId: string, status: ProfileStatus, now: Date): Promise<boolean>;
  /** Matches in user id order after `afterId`. */
  search(query: ProfileQuery, afterId: string | undefined, limit: number): Promise<ProfileSummary[]>;
}

/** Sends one message to an address through its channel's adapter (or its log when none is configured). */
export type AddressSender = (target: DeliveryTarget, message: DeliveryMessage) => Promise<DeliveryOutcome>;

/** Reset tokens are URL-safe (base64url); anything else is not one of auth's. */
const RESET_TOKEN = /^[\w-]{16,256}$/;

export function createUserStaff(deps: {
  store: ProfileStatusStore;
  now: () => Date;
  send?: AddressSender;
  /** People's names and chosen locales (the notifications' read): a message speaks its owner's. */
  people: NotificationStore["people"];
  /** Where the apps let a person choose a new password; a reset message links to it when set. */
  passwordResetUrl?: string;
}) {
  const checkAddress = (address: string) => {
    if (!address || address.length > 254)
      throw invalidArgument("VALIDATION_FAILED", "an address is required", {
        fieldViolations: [{ field: "address", description: "must be an email address or phone number" }],
      });
  };
  /**
   * The language of a message to an address: the locale its owner chose, else the asker's
   * Accept-Language, else English.
   */
  const localeFor = async (userId: string, acceptLanguage: string): Promise<Locale> => {
    const chosen = isUuid(userId) ? ((await deps.people([userId])).get(userId)?.locale ?? "") : "";
    return chosen ? localeOf(chosen) : (localeFromAcceptLanguage(acceptLanguage) ?? "en");
  };
  /** One message to an address, straight through its channel; a refusal is the caller's to retry. */
  const deliver = async (address: string, sms: boolean, message: AddressMessage) => {
    if (!deps.send) throw unavailable("DELIVERY_FAILED", "no delivery channels here");
    const outcome = await deps.send(
      sms ? { channel: "sms", phone: address } : { channel: "email", address },
      {
        notificationId: newId(),
        data: {},
        seq: 0n,
        ...message,
      },
    );
    if (outcome.outcome !== "sent")
      throw unavailable("DELIVERY_FAILED", `the ${sms ? "SMS" : "email"} was not sent; retry`);
  };

  return {
    /**
     * A one-time code by email or SMS, straight through the channel (not the inbox, whatever the
     * person's preferences: they asked for it). The code is the message's secret, as a reset
     * token is. A refusal is the caller's to retry.
     */
    async sendVerificationCode(input: {
      userId: string;
      address: string;
      sms: boolean;
      code: string;
      validMinutes: number;
      acceptLanguage: string;
    }) {
      checkAddress(input.address);
      if (!/^\d{4,10}$/.test(input.code))
        throw invalidArgument("VALIDATION_FAILED", "a numeric code is required", {
          fieldViolations: [{ field: "code", description: "must be digits" }],
        });
      const minutes = input.validMinutes > 0 ? input.validMinutes : 10;
      const messages = ADDRESS_MESSAGES[await localeFor(input.userId, input.acceptLanguage)];
      await deliver(input.address, input.sms, messages.verificationCode(input.code, minutes));
    },

    /**
     * A password reset token to the address it was asked for, as a link to the apps' reset page
     * (the token in the fragment, which browsers do not send to servers) or, without one, as a
     * code to enter. The token is the message's secret: a log standing in for a channel withholds it.
     */
    async sendPasswordReset(input: {
      address: string;
      sms: boolean;
      resetToken: string;
      expiresAt?: Date;
      userId: string;
      acceptLanguage: string;
    }) {
      checkAddress(input.address);
      if (!RESET_TOKEN.test(input.resetToken))
        throw invalidArgument("VALIDATION_FAILED", "a reset token is required", {
          fieldViolations: [{ field: "reset_token", description: "must be a reset token" }],
        });
      if (!input.expiresAt || Number.isNaN(input.expiresAt.getTime()))
        throw invalidArgument("VALIDATION_FAILED", "expires_at is required", {
          fieldViolations: [{ field: "expires_at", description: "is required" }],
        });
      const link = deps.passwordResetUrl ? `${deps.passwordResetUrl}#token=${input.resetToken}` : undefined;
      const messages = ADDRESS_MESSAGES[await localeFor(input.userId, input.acceptLanguage)];
      await deliver(
        input.address,
        input.sms,
        messages.passwordReset(input.resetToken, input.expiresAt, link),
      );
    },

    /** A reset was asked for an address no account uses: its owner learns so, nobody else does. */
    async sendNoAccountNotice(input: { address: string; sms: boolean; acceptLanguage: string }) {
      checkAddress(input.address);
      const messages = ADDRESS_MESSAGES[await localeFor("", input.acceptLanguage)];
      await deliver(input.address, input.sms, messages.noAccountNotice());
    },

    /** A suspended or deleted person's expert profile leaves discovery; active brings it back. Idempotent. */
    async setProfileStatus(userId: string, status: ProfileStatus): Promise<void> {
      await deps.store.setStatus(requireUuid(userId, "user_id"), status, deps.now());
    },

    /** Exactly one of a name part (2..80 characters), an external id, or up to 100 ids. */
    search(
      input: { name: string; externalId: string; userIds: string[] },
      afterId: string | undefined,
      limit: number,
    ): Promise<ProfileSummary[]> {
      const given = [input.name !== "", input.externalId !== "", input.userIds.length > 0].filter(Boolean);
      const refuse = (description: string) =>
        invalidArgument("VALIDATION_FAILED", description, {
          fieldViolations: [{ field: "name", description }],
        });
      if (given.length !== 1) throw refuse("give exactly one of name, external_id, user_ids");
      if (input.name) {
        const name = input.name.trim();
        if (name.length < 2 || name.length > 80) throw refuse("a name part is 2..80 characters");
        return deps.store.search({ name }, afterId, limit);
      }
      if (input.externalId)
        return deps.store.search({ externalId: input.externalId.slice(0, 200) }, afterId, limit);
      if (input.userIds.length > 100 || input.userIds.some((id) => !isUuid(id)))
        throw refuse("user_ids are at most 100 UUIDs");
      return deps.store.search({ userIds: input.userIds.map((id) => id.toLowerCase()) }, afterId, limit);
    },
  };
}

export type UserStaff = ReturnType<typeof createUserStaff>;
