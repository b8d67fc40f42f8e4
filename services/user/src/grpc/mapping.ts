import { enumMapping } from "@parley/kit/enums";
import { invalidArgument } from "@parley/kit/errors";
import { isUuid } from "@parley/kit/ids";
import type { CursorCodec, Paging } from "@parley/kit/paging";
import type { Money } from "@parley/proto/parley/common/v1/money";
import {
  DeliveryChannel as DeliveryChannelMessage,
  type Device as DeviceMessage,
  ExpertAvailability,
  type Expert as ExpertMessage,
  type ExpertMetrics,
  ExpertSort,
  type ListExpertsRequest,
  NotificationKind as NotificationKindMessage,
  type Notification as NotificationMessage,
  type Profile as ProfileMessage,
  RateKind,
  SyncOutcome,
  type SyncUserRecord,
  type SyncUserResult,
} from "@parley/proto/parley/user/v1/user";
import type {
  Availability,
  DeliveryChannel,
  Device,
  RateKind as DomainRateKind,
  ExpertSort as DomainSort,
  Expert,
  ExpertCursor,
  ExpertFilters,
  MoneyAmount,
  Notification,
  NotificationKind,
  Profile,
  SyncRecord,
  SyncResult,
} from "../domain/model";
import type { ExpertMetricsRecord } from "../domain/safety";

const AVAILABILITY = enumMapping<Availability, ExpertAvailability>({
  available: ExpertAvailability.EXPERT_AVAILABILITY_AVAILABLE,
  unavailable: ExpertAvailability.EXPERT_AVAILABILITY_UNAVAILABLE,
  offline: ExpertAvailability.EXPERT_AVAILABILITY_OFFLINE,
  busy: ExpertAvailability.EXPERT_AVAILABILITY_BUSY,
});

const SYNC_OUTCOME = enumMapping<SyncResult["outcome"], SyncOutcome>({
  created: SyncOutcome.SYNC_OUTCOME_CREATED,
  updated: SyncOutcome.SYNC_OUTCOME_UPDATED,
  failed: SyncOutcome.SYNC_OUTCOME_FAILED,
});

export const availabilityMessage = AVAILABILITY.toProto;
/** Unset is undefined: no filter, or the domain's "required". */
export const toAvailability = (value: ExpertAvailability) => AVAILABILITY.toOptional(value, "availability");

export function profileMessage(profile: Profile): ProfileMessage {
  return {
    userId: profile.userId,
    displayName: profile.displayName,
    avatarUrl: profile.avatarUrl,
    bio: profile.bio,
    languages: profile.languages,
    preferences: profile.preferences,
    verified: profile.verified,
    partnerId: profile.partnerId ?? "",
    externalId: profile.externalId ?? "",
    syncStatus: profile.syncStatus
      ? SYNC_OUTCOME.toProto(profile.syncStatus)
      : SyncOutcome.SYNC_OUTCOME_UNSPECIFIED,
    lastSyncedAt: profile.lastSyncedAt ?? undefined,
    createdAt: profile.createdAt,
    updatedAt: profile.updatedAt,
  };
}

/** Proto names of the fields set (non-default) in a request's profile: what it tries to write. */
export function presentFields(profile: ProfileMessage | undefined): string[] {
  if (!profile) return [];
  const present: Array<[string, boolean]> = [
    ["user_id", profile.userId !== ""],
    ["display_name", profile.displayName !== ""],
    ["avatar_url", profile.avatarUrl !== ""],
    ["bio", profile.bio !== ""],
    ["languages", profile.languages.length > 0],
    ["preferences", profile.preferences !== undefined],
    ["verified", profile.verified],
    ["partner_id", profile.partnerId !== ""],
    ["external_id", profile.externalId !== ""],
    ["sync_status", profile.syncStatus !== SyncOutcome.SYNC_OUTCOME_UNSPECIFIED],
    ["last_synced_at", profile.lastSyncedAt !== undefined],
    ["created_at", profile.createdAt !== undefined],
    ["updated_at", profile.updatedAt !== undefined],
  ];
  return present.filter(([, isSet]) => isSet).map(([name]) => name);
}

/** Mask paths arrive snake_case over gRPC and camelCase from proto3 JSON; the domain uses snake_case. */
export const snakeCase = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function expertMessage(expert: Expert): ExpertMessage {
  return {
    userId: expert.userId,
    displayName: expert.displayName,
    avatarUrl: expert.avatarUrl,
    chatRate: { amountMinor: expert.chatRateMinor, currency: expert.currency },
    callRate: { amountMinor: expert.callRateMinor, currency: expert.currency },
    maxConcurrentSessions: expert.maxConcurrentSessions,
    availability: availabilityMessage(expert.availability),
    specialisations: expert.specialisations,
    languages: expert.languages,
    experienceYears: expert.experienceYears,
    bio: expert.bio,
    ratingAverage: expert.ratingAverage,
    ratingCount: expert.ratingCount,
    activeSessions: expert.activeSessions,
    updatedAt: expert.updatedAt,
  };
}

export const expertMetricsMessage = (m: ExpertMetricsRecord): ExpertMetrics => ({
  completedSessionsThisMonth: m.completedSessions,
  repeatClientRate: m.repeatClientRate,
  medianFirstResponseSeconds:
    m.medianFirstResponseSeconds === null ? undefined : BigInt(m.medianFirstResponseSeconds),
  asOf: m.asOf,
});

export const syncRecord = (record: SyncUserRecord | undefined): SyncRecord => ({
  externalId: record?.externalId ?? "",
  displayName: record?.displayName ?? "",
  avatarUrl: record?.avatarUrl ?? "",
  bio: record?.bio ?? "",
  languages: record?.languages ?? [],
});

export const syncResultMessage = (result: SyncResult): SyncUserResult => ({
  ...result,
  outcome: SYNC_OUTCOME.toProto(result.outcome),
});

const RATE_KIND = enumMapping<DomainRateKind, RateKind>({
  chat: RateKind.RATE_KIND_CHAT,
  call: RateKind.RATE_KIND_CALL,
});

const SORT = enumMapping<DomainSort, ExpertSort>({
  rating: ExpertSort.EXPERT_SORT_RATING_DESC,
  rate_asc: ExpertSort.EXPERT_SORT_RATE_ASC,
  rate_desc: ExpertSort.EXPERT_SORT_RATE_DESC,
  experience: ExpertSort.EXPERT_SORT_EXPERIENCE_DESC,
});

function moneyFilter(money: Money | undefined, field: string): MoneyAmount | undefined {
  if (!money) return undefined;
  if (!/^[A-Z]{3}$/.test(money.currency))
    throw invalidArgument("VALIDATION_FAILED", `${field}.currency must be an ISO 4217 code`);
  return { amountMinor: money.amountMinor, currency: money.currency };
}

/** Decodes ListExperts into the domain query; a page token opens only the filters and sort it came from. */
export function expertQuery(request: ListExpertsRequest, paging: Paging) {
  if (request.minRating < 0 || request.minRating > 5)
    throw invalidArgument("VALIDATION_FAILED", "min_rating must be 0 to 5");
  const filters: ExpertFilters = {
    specialisation: request.specialisation || undefined,
    language: request.language || undefined,
    availability: toAvailability(request.availability),
    rateKind: RATE_KIND.toOptional(request.rateKind, "rate_kind") ?? "chat",
    minRate: moneyFilter(request.minRate, "min_rate"),
    maxRate: moneyFilter(request.maxRate, "max_rate"),
    minRating: request.minRating || undefined,
  };
  const sort = SORT.toOptional(request.sort, "sort") ?? "rating";
  const page = paging.open(request, {
    query: ["user.ListExperts", filters, sort],
    sizes: { default: 20, max: 100 },
    cursor: expertCursor(sort),
  });
  return { query: { ...filters, sort, limit: page.size, after: page.after }, next: page.next };
}

const INT4 = (v: unknown) => Number.isInteger(v) && Math.abs(v as number) <= 2_147_483_647;
const INT8_TEXT = (v: unknown) =>
  typeof v === "string" && /^-?\d{1,19}$/.test(v) && BigInt.asIntN(64, BigInt(v)) === BigInt(v);
const FLOAT = (v: unknown) => typeof v === "number" && Number.isFinite(v);
/** The shape of each sort's cursor key, as listing encodes it. */
const CURSOR_KEYS: Record<DomainSort, Array<(v: unknown) => boolean>> = {
  rating: [FLOAT, INT4],
  rate_asc: [INT8_TEXT],
  rate_desc: [INT8_TEXT],
  experience: [INT4],
};

/** A sort's keyset cursor in a page token: the last expert's sort keys and id. */
const expertCursor = (sort: DomainSort): CursorCodec<ExpertCursor> => ({
  encode: (cursor) => ({ k: cursor.key, u: cursor.userId }),
  decode(value) {
    const { k, u } = (value ?? {}) as { k?: unknown; u?: unknown };
    const shape = CURSOR_KEYS[sort];
    if (!Array.isArray(k) || typeof u !== "string" || !isUuid(u)) return undefined;
    if (k.length !== shape.length || !shape.every((valid, i) => valid(k[i]))) return undefined;
    return { key: k as Array<string | number>, userId: u };
  },
});

const KIND = enumMapping<NotificationKind, NotificationKindMessage>({
  request_waiting: NotificationKindMessage.NOTIFICATION_KIND_REQUEST_WAITING,
  request_cancelled: NotificationKindMessage.NOTIFICATION_KIND_REQUEST_CANCELLED,
  request_expired: NotificationKindMessage.NOTIFICATION_KIND_REQUEST_EXPIRED,
  session_accepted: NotificationKindMessage.NOTIFICATION_KIND_SESSION_ACCEPTED,
  session_declined: NotificationKindMessage.NOTIFICATION_KIND_SESSION_DECLINED,
  session_expired: NotificationKindMessage.NOTIFICATION_KIND_SESSION_EXPIRED,
  session_ended: NotificationKindMessage.NOTIFICATION_KIND_SESSION_ENDED,
  top_up_credited: NotificationKindMessage.NOTIFICATION_KIND_TOP_UP_CREDITED,
  refund_issued: NotificationKindMessage.NOTIFICATION_KIND_REFUND_ISSUED,
  favourite_online: NotificationKindMessage.NOTIFICATION_KIND_FAVOURITE_ONLINE,
  report_resolved: NotificationKindMessage.NOTIFICATION_KIND_REPORT_RESOLVED,
  moderation_warning: NotificationKindMessage.NOTIFICATION_KIND_MODERATION_WARNING,
  dispute_opened: NotificationKindMessage.NOTIFICATION_KIND_DISPUTE_OPENED,
  dispute_resolved: NotificationKindMessage.NOTIFICATION_KIND_DISPUTE_RESOLVED,
  new_sign_in: NotificationKindMessage.NOTIFICATION_KIND_NEW_SIGN_IN,
  mfa_changed: NotificationKindMessage.NOTIFICATION_KIND_MFA_CHANGED,
  password_changed: NotificationKindMessage.NOTIFICATION_KIND_PASSWORD_CHANGED,
});

export const toNotificationKind = (value: NotificationKindMessage, field = "kind") =>
  KIND.toDomain(value, field);

export function notificationMessage(n: Notification): NotificationMessage {
  return {
    notificationId: n.notificationId,
    seq: n.seq,
    kind: KIND.toProto(n.kind),
    title: n.title,
    body: n.body,
    data: n.data,
    createdAt: n.createdAt,
    readAt: n.readAt ?? undefined,
  };
}

const CHANNEL = enumMapping<DeliveryChannel, DeliveryChannelMessage>({
  web_push: DeliveryChannelMessage.DELIVERY_CHANNEL_WEB_PUSH,
  mobile_push: DeliveryChannelMessage.DELIVERY_CHANNEL_MOBILE_PUSH,
  email: DeliveryChannelMessage.DELIVERY_CHANNEL_EMAIL,
  sms: DeliveryChannelMessage.DELIVERY_CHANNEL_SMS,
});

export const channelMessage = CHANNEL.toProto;
export const kindMessage = KIND.toProto;
/** Unset is undefined: the domain says which are required. */
export const toChannel = (value: DeliveryChannelMessage, field: string) => CHANNEL.toOptional(value, field);
export const toKind = (value: NotificationKindMessage, field: string) => KIND.toOptional(value, field);

export function deviceMessage(device: Device): DeviceMessage {
  return {
    deviceId: device.deviceId,
    channel: CHANNEL.toProto(device.channel),
    loginSessionId: device.loginSessionId,
    endpoint: device.channel === "web_push" ? device.address : "",
    createdAt: device.createdAt,
  };
}
