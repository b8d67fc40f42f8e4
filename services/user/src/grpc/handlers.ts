import type { PartnerPrincipal, Principal } from "@parley/kit/auth";
import { invalidArgument, permissionDenied } from "@parley/kit/errors";
import type { Handlers } from "@parley/kit/grpc";
import { cursors, type Paging } from "@parley/kit/paging";
import { type WatchDeps, watchStream } from "@parley/kit/watch";
import { SyncOutcome, type SyncUserResult, type UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { Devices } from "../domain/delivery";
import type { Favourites } from "../domain/favourites";
import type { Notification } from "../domain/model";
import type { Notifications } from "../domain/notifications";
import type { ExpertMetricsRecord } from "../domain/safety";
import { DEFAULT_PREFERENCES, type Users } from "../domain/users";
import {
  availabilityMessage,
  channelMessage,
  deviceMessage,
  expertMessage,
  expertMetricsMessage,
  expertQuery,
  kindMessage,
  notificationMessage,
  presentFields,
  profileMessage,
  snakeCase,
  syncRecord,
  syncResultMessage,
  toAvailability,
  toChannel,
  toKind,
  toNotificationKind,
} from "./mapping";

/** Records one SyncUsers stream accepts; bigger batches are split by the partner. */
const MAX_SYNC_BATCH = 10_000;

function partnerOf(principal: Principal): PartnerPrincipal {
  if (principal.kind !== "partner")
    throw permissionDenied("PERMISSION_DENIED", "only partner API keys sync users");
  return principal;
}

function personOf(principal: Principal): string {
  if (principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "only people have a profile");
  return principal.userId;
}

const NOTIFICATION_PAGES = { default: 20, max: 100 };

function serviceOf(principal: Principal): string {
  if (principal.kind !== "service") throw permissionDenied("PERMISSION_DENIED", "only services notify");
  return principal.service;
}

export function userHandlers(
  users: Users,
  notifications: Notifications,
  favourites: Favourites,
  devices: Devices,
  vapidPublicKey: string,
  watch: Omit<WatchDeps<Notification>, "between">,
  paging: Paging,
  /** An expert's public figures (the session service keeps them current); none when absent. */
  expertMetrics?: (expertId: string) => Promise<ExpertMetricsRecord | undefined>,
): Handlers<typeof UserServiceService> {
  return {
    async getMe(_request, ctx) {
      return { profile: profileMessage(await users.getMe(personOf(ctx.principal))) };
    },

    async getUser(request, ctx) {
      return { profile: profileMessage(await users.getUser(ctx.principal, request.userId)) };
    },

    async updateProfile(request, ctx) {
      const profile = request.profile;
      const updated = await users.updateProfile(ctx.principal, {
        userId: profile?.userId ?? "",
        mask: (request.updateMask ?? []).map(snakeCase),
        presentFields: presentFields(profile),
        values: {
          display_name: profile?.displayName ?? "",
          avatar_url: profile?.avatarUrl ?? "",
          bio: profile?.bio ?? "",
          languages: profile?.languages ?? [],
          preferences: profile?.preferences ?? DEFAULT_PREFERENCES,
          verified: profile?.verified ?? false,
        },
      });
      return { profile: profileMessage(updated) };
    },

    async ensureProfile(request) {
      const { profile, created } = await users.ensureProfile(request.userId, request.displayName, {
        email: request.email,
        phone: request.phone,
      });
      return { profile: profileMessage(profile), created };
    },

    async syncUser(request, ctx) {
      const result = await users.syncUser(partnerOf(ctx.principal).partnerId, syncRecord(request.record));
      if (result.outcome === "failed") throw invalidArgument(result.errorReason, result.errorMessage);
      return { result: syncResultMessage(result) };
    },

    async syncUsers(requests, ctx) {
      const { partnerId } = partnerOf(ctx.principal);
      const results: SyncUserResult[] = [];
      for await (const request of requests) {
        if (results.length >= MAX_SYNC_BATCH)
          throw invalidArgument("BATCH_TOO_LARGE", `at most ${MAX_SYNC_BATCH} records per stream`);
        results.push(syncResultMessage(await users.syncUser(partnerId, syncRecord(request.record))));
      }
      const count = (outcome: SyncOutcome) => results.filter((r) => r.outcome === outcome).length;
      return {
        results,
        createdCount: count(SyncOutcome.SYNC_OUTCOME_CREATED),
        updatedCount: count(SyncOutcome.SYNC_OUTCOME_UPDATED),
        failedCount: count(SyncOutcome.SYNC_OUTCOME_FAILED),
      };
    },

    async lookupSyncedUser(request) {
      return { userId: await users.lookupSyncedUser(request.partnerId, request.externalId) };
    },

    async upsertExpertProfile(request, ctx) {
      const profile = request.profile;
      const chat = profile?.chatRate;
      const call = profile?.callRate;
      if (!chat || !call) throw invalidArgument("VALIDATION_FAILED", "chat_rate and call_rate are required");
      if (chat.currency !== call.currency)
        throw invalidArgument("CURRENCY_MISMATCH", "chat_rate and call_rate must use one currency");
      const expert = await users.upsertExpertProfile(ctx.principal, request.expertId, {
        currency: chat.currency,
        chatRateMinor: chat.amountMinor,
        callRateMinor: call.amountMinor,
        maxConcurrentSessions: profile.maxConcurrentSessions,
        specialisations: profile.specialisations,
        languages: profile.languages,
        experienceYears: profile.experienceYears,
        bio: profile.bio,
      });
      return { expert: expertMessage(expert) };
    },

    async setAvailability(request, ctx) {
      const expert = await users.setAvailability(
        ctx.principal,
        request.expertId,
        toAvailability(request.availability),
      );
      return { expert: expertMessage(expert) };
    },

    async getExpert(request) {
      const expert = expertMessage(await users.getExpert(request.expertId));
      const metrics = await expertMetrics?.(expert.userId);
      return { expert: metrics ? { ...expert, metrics: expertMetricsMessage(metrics) } : expert };
    },

    async listExperts(request, ctx) {
      const { query, next } = expertQuery(request, paging);
      const viewerId = ctx.principal.kind === "user" ? ctx.principal.userId : undefined;
      const page = await users.listExperts({ ...query, viewerId });
      return { experts: page.experts.map(expertMessage), nextPageToken: next(page.next) };
    },

    async reportExpertLoad(request) {
      return {
        availability: availabilityMessage(
          await users.reportExpertLoad(request.expertId, request.activeSessions),
        ),
      };
    },

    async reportPresence(request) {
      return { expiresAt: await users.reportPresence(request.userId, request.online) };
    },

    async updateRatingSummary(request) {
      return users.updateRatingSummary(request.expertId, request.sessionId, request.rating);
    },

    async listNotifications(request, ctx) {
      const userId = personOf(ctx.principal);
      const page = paging.open(request, {
        query: ["listNotifications", userId, request.unreadOnly],
        sizes: NOTIFICATION_PAGES,
        cursor: cursors.int64,
      });
      const { notifications: list, unreadCount } = await notifications.list(userId, {
        unreadOnly: request.unreadOnly,
        beforeSeq: page.after,
        limit: page.size,
      });
      return {
        notifications: list.map(notificationMessage),
        nextPageToken: page.next(list.length === page.size ? list.at(-1)?.seq : undefined),
        unreadCount,
      };
    },

    async markNotificationRead(request, ctx) {
      const { notification, unreadCount } = await notifications.markRead(
        personOf(ctx.principal),
        request.notificationId,
      );
      return { notification: notificationMessage(notification), unreadCount };
    },

    async markAllNotificationsRead(request, ctx) {
      return notifications.markAllRead(personOf(ctx.principal), request.upToSeq);
    },

    async notify(request, ctx) {
      const { notification, created } = await notifications.notify(serviceOf(ctx.principal), {
        eventId: request.eventId,
        userId: request.userId,
        kind: toNotificationKind(request.kind),
        data: request.data,
      });
      return { notification: notificationMessage(notification), created };
    },

    async notifyMany(request, ctx) {
      const results = await notifications.notifyMany(
        serviceOf(ctx.principal),
        request.events.map((event, i) => ({
          eventId: event.eventId,
          userId: event.userId,
          kind: toNotificationKind(event.kind, `events[${i}].kind`),
          data: event.data,
        })),
      );
      return {
        results: results.map(({ notification, created }) => ({
          notification: notificationMessage(notification),
          created,
        })),
      };
    },

    async addFavourite(request, ctx) {
      return { expert: expertMessage(await favourites.add(personOf(ctx.principal), request.expertId)) };
    },

    async removeFavourite(request, ctx) {
      await favourites.remove(personOf(ctx.principal), request.expertId);
      return {};
    },

    async listFavourites(request, ctx) {
      const userId = personOf(ctx.principal);
      const page = paging.open(request, {
        query: ["listFavourites", userId],
        sizes: NOTIFICATION_PAGES,
        cursor: cursors.timeAndId,
      });
      const { experts, last } = await favourites.list(userId, page.after, page.size);
      return { experts: experts.map(expertMessage), nextPageToken: page.next(last) };
    },

    async registerDevice(request, ctx) {
      const principal = ctx.principal;
      if (principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "only people have devices");
      const channel = toChannel(request.channel, "channel");
      const device = await devices.register(principal.userId, principal.sessionId, {
        channel: channel === "web_push" || channel === "mobile_push" ? channel : undefined,
        endpoint: request.endpoint,
        p256dh: request.p256dh,
        auth: request.auth,
        fcmToken: request.fcmToken,
      });
      return { device: deviceMessage(device) };
    },

    async unregisterDevice(request, ctx) {
      await devices.unregister(personOf(ctx.principal), request.deviceId);
      return {};
    },

    async getNotificationSettings(_request, ctx) {
      const me = await users.getMe(personOf(ctx.principal));
      const settings = await devices.settings(me.userId, me.preferences);
      return {
        preferences: settings.preferences.map((p) => ({
          channel: channelMessage(p.channel),
          kind: kindMessage(p.kind),
          enabled: p.enabled,
        })),
        devices: settings.devices.map(deviceMessage),
        vapidPublicKey,
      };
    },

    async updateNotificationSettings(request, ctx) {
      const me = await users.getMe(personOf(ctx.principal));
      await devices.update(
        me.userId,
        request.preferences.map((p) => ({
          channel: toChannel(p.channel, "preferences.channel"),
          kind: toKind(p.kind, "preferences.kind"),
          enabled: p.enabled,
        })),
      );
      const settings = await devices.settings(me.userId, me.preferences);
      return {
        preferences: settings.preferences.map((p) => ({
          channel: channelMessage(p.channel),
          kind: kindMessage(p.kind),
          enabled: p.enabled,
        })),
      };
    },

    async forgetLoginSession(request) {
      return { removedCount: await devices.forgetLoginSession(request.loginSessionId) };
    },

    async watchMe(request, ctx, stream) {
      const userId = personOf(ctx.principal);
      if (request.afterSeq < 0n) throw invalidArgument("VALIDATION_FAILED", "after_seq cannot be negative");
      await watchStream(
        { ...watch, between: notifications.between },
        userId,
        request.afterSeq,
        (notification) =>
          stream.write({ notification: notification ? notificationMessage(notification) : undefined }),
        ctx.signal,
      );
    },
  };
}
