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
