import { isAppError } from "@parley/kit/errors";
import { createServiceClient } from "@parley/kit/grpc";
import { userNotifier } from "@parley/kit/notify";
import { ProfileStatus, UserStaffServiceService } from "@parley/proto/parley/user/v1/staff";
import { UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { AccountStatus, OutboxPayload, SecurityNotice } from "../domain/model";
import type {
  Notifier,
  ProfileDirectory,
  SecurityNotifier,
  StaffProfiles,
  SyncedUsers,
} from "../domain/ports";

/** How long a message sent through the user service's channels may take (the outbox's claim lasts 120 s). */
const SEND_DEADLINE_MS = 30_000;

/** The user service as auth uses it: profile creation (from the outbox) and synced-user lookup. */
export function createUserDirectory(address: string, credentials: () => Promise<string>) {
  const client = createServiceClient(UserServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 5_000,
    idempotent: ["ensureProfile", "lookupSyncedUser", "notify", "notifyMany", "forgetLoginSession", "getMe"],
  });
  const profiles: ProfileDirectory = {
    async ensureProfile(profile, options = {}) {
      await client.ensureProfile({ ...profile, phone: profile.phone ?? "" }, { deadlineMs: options.waitMs });
    },
  };
  const syncedUsers: SyncedUsers = {
    async lookup(partnerId, externalId) {
      try {
        return (await client.lookupSyncedUser({ partnerId, externalId })).userId;
      } catch (error) {
        if (isAppError(error, "SYNCED_USER_NOT_FOUND")) return undefined;
        throw error;
      }
    },
  };
  const notifier = userNotifier(client);
  const intentOf = (eventId: string, notice: SecurityNotice) => ({
    id: eventId,
    userId: notice.userId,
    kind: notice.notice,
    data: notice.data,
  });
  const notices: SecurityNotifier = {
    notify: (eventId, notice) => notifier.notify(intentOf(eventId, notice)),
    notifyMany: (notices) =>
      notifier.notifyMany(notices.map(({ eventId, notice }) => intentOf(eventId, notice))),
    async forgetLoginSession(loginSessionId) {
      await client.forgetLoginSession({ loginSessionId });
    },
  };
  const staff = createServiceClient(UserStaffServiceService, {
    address,
    credentials,
    defaultDeadlineMs: 5_000,
    idempotent: ["setProfileStatus", "searchProfiles"],
  });
  const STATUS = {
    active: ProfileStatus.PROFILE_STATUS_ACTIVE,
    suspended: ProfileStatus.PROFILE_STATUS_SUSPENDED,
    deleted: ProfileStatus.PROFILE_STATUS_DELETED,
  } as const;
  const setProfileStatus = async (userId: string, status: AccountStatus) => {
    await staff.setProfileStatus({ userId, status: STATUS[status] });
  };
  const toSummary = (p: { userId: string; displayName: string; partnerId: string; externalId: string }) => ({
    userId: p.userId,
    displayName: p.displayName,
    partnerId: p.partnerId,
    externalId: p.externalId,
  });
  const staffProfiles: StaffProfiles = {
    async search(query, pageSize, pageToken) {
      const found = await staff.searchProfiles({
        name: "name" in query ? query.name : "",
        externalId: "externalId" in query ? query.externalId : "",
        userIds: [],
        pageSize,
        pageToken,
      });
      return { profiles: found.profiles.map(toSummary), nextPageToken: found.nextPageToken };
    },
    async byIds(userIds) {
      const found = await staff.searchProfiles({
        name: "",
        externalId: "",
        userIds,
        pageSize: 100,
        pageToken: "",
      });
      return found.profiles.map(toSummary);
    },
  };
  /**
   * Password reset messages, sent by the user service through its email and SMS channels. A
   * send waits longer than its channel's own limits for a step (SMS 10 s; SMTP 10 s to connect,
   * to greet and for each command), so a provider that is slow but delivers is seldom taken for
   * a failure and sent to again (delivery stays at least once).
   */
  const sending = { deadlineMs: SEND_DEADLINE_MS };
  const resets: Notifier = {
    async sendPasswordReset({ channel, to, token, expiresAt, userId = "", acceptLanguage = "" }) {
      await staff.sendPasswordReset(
        {
          address: to,
          sms: channel === "sms",
          resetToken: token,
          expiresAt: new Date(expiresAt),
          userId,
          acceptLanguage,
        },
        sending,
      );
    },
    async sendNoAccountNotice({ channel, to, acceptLanguage = "" }) {
      await staff.sendNoAccountNotice({ address: to, sms: channel === "sms", acceptLanguage }, sending);
    },
  };
  const sendVerificationCode = async ({ acceptLanguage = "", ...message }: OutboxPayload<"verify.send">) => {
    await staff.sendVerificationCode({ ...message, acceptLanguage }, sending);
  };
  return {
    client,
    sendVerificationCode,
    resets,
    profiles,
    syncedUsers,
    notices,
    setProfileStatus,
    staffProfiles,
    close: () => {
      client.close();
      staff.close();
    },
  };
}
