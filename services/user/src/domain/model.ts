/** Plain domain types of the user service: no gRPC, no SQL. */

export interface Preferences {
  locale: string;
  timeZone: string;
  emailNotifications: boolean;
  pushNotifications: boolean;
}

export type SyncStatus = "created" | "updated";

export interface Profile {
  userId: string;
  displayName: string;
  avatarUrl: string;
  bio: string;
  languages: string[];
  preferences: Preferences;
  verified: boolean;
  partnerId: string | null;
  externalId: string | null;
  syncStatus: SyncStatus | null;
  lastSyncedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Soft deletion: a deleted profile is anonymised and reads as absent to everyone but staff. */
  status?: ProfileStatus;
}

/** What UpdateProfile may change; keys are the proto field names used in update_mask. */
export interface ProfileChanges {
  display_name?: string;
  avatar_url?: string;
  bio?: string;
  languages?: string[];
  preferences?: Preferences;
  verified?: boolean;
}

export interface SyncRecord {
  externalId: string;
  displayName: string;
  avatarUrl: string;
  bio: string;
  languages: string[];
}

export interface SyncResult {
  externalId: string;
  userId: string;
  outcome: "created" | "updated" | "failed";
  errorReason: string;
  errorMessage: string;
}

/** What the expert chooses; BUSY is derived, never chosen. */
export type ChosenAvailability = "available" | "unavailable" | "offline";
export type Availability = ChosenAvailability | "busy";

export interface ExpertFields {
  currency: string;
  chatRateMinor: bigint;
  callRateMinor: bigint;
  maxConcurrentSessions: number;
  specialisations: string[];
  languages: string[];
  experienceYears: number;
  bio: string;
}

export interface ExpertRecord extends ExpertFields {
  userId: string;
  /** The account's status: a suspended or deleted expert is out of discovery. */
  status: ProfileStatus;
  displayName: string;
  avatarUrl: string;
  chosenAvailability: ChosenAvailability;
  activeSessions: number;
  ratingAverage: number;
  ratingCount: number;
  updatedAt: Date;
}

export interface Expert extends ExpertRecord {
  availability: Availability;
}

export type RateKind = "chat" | "call";

export type ProfileStatus = "active" | "suspended" | "deleted";
export type ExpertSort = "rating" | "rate_asc" | "rate_desc" | "experience";

export interface MoneyAmount {
  amountMinor: bigint;
  currency: string;
}

export interface ExpertFilters {
  specialisation?: string;
  language?: string;
  availability?: Availability;
  rateKind: RateKind;
  minRate?: MoneyAmount;
  maxRate?: MoneyAmount;
  minRating?: number;
}

/** Position after the last expert of a page: the sort key values, then user_id (a total order). */
export interface ExpertCursor {
  key: Array<string | number>;
  userId: string;
}

export interface ExpertQuery extends ExpertFilters {
  sort: ExpertSort;
  limit: number;
  after?: ExpertCursor;
  /** The signed-in person searching: experts blocked either way between them are left out. */
  viewerId?: string;
}

export interface RatingSummary {
  ratingAverage: number;
  ratingCount: number;
  applied: boolean;
}

/** What a notification is about (NotificationKind in the contract, lower snake case here). */
export const NOTIFICATION_KINDS = [
  "request_waiting",
  "request_cancelled",
  "request_expired",
  "session_accepted",
  "session_declined",
  "session_expired",
  "session_ended",
  "top_up_credited",
  "refund_issued",
  "favourite_online",
  "new_sign_in",
  "mfa_changed",
  "password_changed",
  "report_resolved",
  "moderation_warning",
  "dispute_opened",
  "dispute_resolved",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** Kinds a person cannot turn off on any channel. */
export const SECURITY_KINDS: ReadonlySet<NotificationKind> = new Set([
  "new_sign_in",
  "mfa_changed",
  "password_changed",
]);

export interface Notification {
  notificationId: string;
  userId: string;
  /** Per-person sequence, 1, 2, ...; 0 on a heartbeat (never stored). */
  seq: bigint;
  kind: NotificationKind;
  title: string;
  body: string;
  data: Record<string, string>;
  createdAt: Date;
  readAt: Date | null;
}

/** A notification to store, keyed by its producer's event id. */
export interface NewNotification {
  notificationId: string;
  userId: string;
  producer: string;
  eventId: string;
  kind: NotificationKind;
  title: string;
  body: string;
  data: Record<string, string>;
}

/** Channels besides the in-app inbox. */
export const DELIVERY_CHANNELS = ["web_push", "mobile_push", "email", "sms"] as const;
export type DeliveryChannel = (typeof DELIVERY_CHANNELS)[number];
export type PushChannel = Extract<DeliveryChannel, "web_push" | "mobile_push">;

export interface Device {
  deviceId: string;
  userId: string;
  loginSessionId: string;
  channel: PushChannel;
  /** Web Push endpoint or FCM token. */
  address: string;
  p256dh: string;
  auth: string;
  createdAt: Date;
}

/** What planning a person's deliveries needs to know about them. */
export interface DeliveryContext {
  emailNotifications: boolean;
  pushNotifications: boolean;
  /** Choices that differ from the defaults, by `${channel}:${kind}`. */
  overrides: Map<string, boolean>;
  devices: Device[];
  email: string | null;
  phone: string | null;
  /** Deliveries planned for them in the last hour, per channel. */
  recent: Partial<Record<DeliveryChannel, number>>;
}

/** One planned delivery: a channel (and a device for push) for one notification. */
export interface PlannedDelivery {
  deliveryId: string;
  notificationId: string;
  userId: string;
  channel: DeliveryChannel;
  deviceId: string | null;
  status: "pending" | "rate_limited";
}

/** Where a claimed delivery goes. */
export type DeliveryTarget =
  | { channel: "web_push"; endpoint: string; p256dh: string; auth: string }
  | { channel: "mobile_push"; token: string }
  | { channel: "email"; address: string }
  | { channel: "sms"; phone: string };

/** What a delivery says, in the person's locale. */
export interface DeliveryMessage {
  notificationId: string;
  /** A notification's kind, or a message sent to an address outside the inbox. */
  kind: NotificationKind | "verification_code" | "password_reset" | "no_account_notice";
  title: string;
  body: string;
  /**
   * A secret the body carries (a verification code, a password reset token): a log line
   * standing in for a channel with no provider writes the body without it.
   */
  secret?: string;
  data: Record<string, string>;
  seq: bigint;
}

export type DeliveryOutcome =
  | { outcome: "sent" }
  /** The provider forgot the device (410, UNREGISTERED): it is removed. */
  | { outcome: "gone"; detail: string }
  /** Transient (5xx, 429, network): tried again with backoff. */
  | { outcome: "retry"; detail: string }
  | { outcome: "failed"; detail: string };

/** A delivery the worker claimed. */
export interface ClaimedDelivery {
  deliveryId: string;
  attempts: number;
  deviceId: string | null;
  target: DeliveryTarget | undefined;
  message: DeliveryMessage;
}

/** One attempt of a claimed delivery, as the worker records it. */
export interface RecordedAttempt {
  deliveryId: string;
  attempt: number;
  outcome: DeliveryOutcome;
  /** `pending` is tried again after `retryInSeconds`; the others are final. */
  status: "pending" | "sent" | "gone" | "failed";
  retryInSeconds: number;
  /** The device the provider forgot, removed with the record; null when none. */
  goneDeviceId: string | null;
}

/** The body as a log may show it: any secret it carries withheld. */
export const loggableBody = (message: Pick<DeliveryMessage, "body" | "secret">): string =>
  message.secret ? message.body.split(message.secret).join("[withheld]") : message.body;
