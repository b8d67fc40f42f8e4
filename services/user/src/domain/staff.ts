import { invalidArgument, unavailable } from "@parley/kit/errors";
import { isUuid, newId, requireUuid } from "@parley/kit/ids";
import type { DeliveryMessage, DeliveryOutcome, DeliveryTarget, ProfileStatus } from "./model";

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

/** A time as a message states it: "2026-12-07 10:45 UTC". */
const stated = (at: Date) => `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;

/** Reset tokens are URL-safe (base64url); anything else is not one of auth's. */
const RESET_TOKEN = /^[\w-]{16,256}$/;

export function createUserStaff(deps: {
  store: ProfileStatusStore;
  now: () => Date;
  send?: AddressSender;
  /** Where the apps let a person choose a new password; a reset message links to it when set. */
  passwordResetUrl?: string;
}) {
  const checkAddress = (address: string) => {
    if (!address || address.length > 254)
      throw invalidArgument("VALIDATION_FAILED", "an address is required", {
        fieldViolations: [{ field: "address", description: "must be an email address or phone number" }],
      });
  };
  /** One message to an address, straight through its channel; a refusal is the caller's to retry. */
  const deliver = async (
    address: string,
    sms: boolean,
    message: Pick<DeliveryMessage, "kind" | "title" | "body" | "secret">,
  ) => {
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
    async sendVerificationCode(input: { address: string; sms: boolean; code: string; validMinutes: number }) {
      checkAddress(input.address);
      if (!/^\d{4,10}$/.test(input.code))
        throw invalidArgument("VALIDATION_FAILED", "a numeric code is required", {
          fieldViolations: [{ field: "code", description: "must be digits" }],
        });
      const minutes = input.validMinutes > 0 ? input.validMinutes : 10;
      await deliver(input.address, input.sms, {
        kind: "verification_code",
        title: "Your Parley verification code",
        body: `Your Parley code is ${input.code}. It expires in ${minutes} minutes. Never share it.`,
        secret: input.code,
      });
    },

    /**
     * A password reset token to the address it was asked for, as a link to the apps' reset page
     * (the token in the fragment, which browsers do not send to servers) or, without one, as a
     * code to enter. The token is the message's secret: a log standing in for a channel withholds it.
     */
    async sendPasswordReset(input: { address: string; sms: boolean; resetToken: string; expiresAt?: Date }) {
      checkAddress(input.address);
      if (!RESET_TOKEN.test(input.resetToken))
        throw invalidArgument("VALIDATION_FAILED", "a reset token is required", {
          fieldViolations: [{ field: "reset_token", description: "must be a reset token" }],
        });
      if (!input.expiresAt || Number.isNaN(input.expiresAt.getTime()))
        throw invalidArgument("VALIDATION_FAILED", "expires_at is required", {
          fieldViolations: [{ field: "expires_at", description: "is required" }],
        });
      const step = deps.passwordResetUrl
        ? `open ${deps.passwordResetUrl}#token=${input.resetToken} before ${stated(input.expiresAt)}`
        : `enter this reset code in the app before ${stated(input.expiresAt)}: ${input.resetToken}`;
      await deliver(input.address, input.sms, {
        kind: "password_reset",
        title: "Reset your Parley password",
        body:
          `Someone asked to reset the password of the Parley account that uses this address. To choose ` +
          `a new one, ${step}. It works once. If it was not you, ignore this message: your password ` +
          `stays as it is.`,
        secret: input.resetToken,
      });
    },

    /** A reset was asked for an address no account uses: its owner learns so, nobody else does. */
    async sendNoAccountNotice(input: { address: string; sms: boolean }) {
      checkAddress(input.address);
      await deliver(input.address, input.sms, {
        kind: "no_account_notice",
        title: "Parley password reset",
        body:
          "Someone asked to reset a Parley password for this address, but no Parley account uses it. " +
          "If it was not you, ignore this message.",
      });
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
