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

/** Sends one message through a channel's adapter (or its log when none is configured). */
export type CodeSender = (target: DeliveryTarget, message: DeliveryMessage) => Promise<DeliveryOutcome>;

export function createUserStaff(deps: { store: ProfileStatusStore; now: () => Date; send?: CodeSender }) {
  return {
    /**
     * A one-time code by email or SMS, straight through the channel (not the inbox, whatever the
     * person's preferences: they asked for it). A refusal is the caller's to retry.
     */
    async sendVerificationCode(input: { address: string; sms: boolean; code: string; validMinutes: number }) {
      if (!/^\d{4,10}$/.test(input.code) || !input.address || input.address.length > 254)
        throw invalidArgument("VALIDATION_FAILED", "an address and a numeric code are required", {
          fieldViolations: [{ field: "code", description: "must be digits" }],
        });
      if (!deps.send) throw unavailable("DELIVERY_FAILED", "no delivery channels here");
      const minutes = input.validMinutes > 0 ? input.validMinutes : 10;
      const outcome = await deps.send(
        input.sms ? { channel: "sms", phone: input.address } : { channel: "email", address: input.address },
        {
          notificationId: newId(),
          kind: "verification_code",
          title: "Your Parley verification code",
          body: `Your Parley code is ${input.code}. It expires in ${minutes} minutes. Never share it.`,
          data: {},
          seq: 0n,
        },
      );
      if (outcome.outcome !== "sent")
        throw unavailable("DELIVERY_FAILED", `the ${input.sms ? "SMS" : "email"} was not sent; retry`);
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
