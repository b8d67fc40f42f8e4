import type { LiveFeed } from "@parley/kit/watch";
import type {
  ChosenAvailability,
  ClaimedDelivery,
  DeliveryChannel,
  DeliveryContext,
  DeliveryMessage,
  DeliveryOutcome,
  DeliveryTarget,
  Device,
  ExpertFields,
  ExpertQuery,
  ExpertRecord,
  NewNotification,
  Notification,
  NotificationKind,
  PlannedDelivery,
  Profile,
  ProfileChanges,
  RatingSummary,
  RecordedAttempt,
  SyncRecord,
} from "./model";

/** The user service's storage (implemented in persistence/store.ts over Postgres). */
export interface UserStore {
  getProfile(userId: string): Promise<Profile | undefined>;
  /**
   * Inserts unless a profile with that id exists; returns the stored one either way. A real
   * name (`placeholder` false) replaces a stored placeholder; nothing else is ever replaced.
   */
  ensureProfile(
    profile: Pick<Profile, "userId" | "displayName"> & { placeholder: boolean },
    now: Date,
  ): Promise<{ profile: Profile; created: boolean }>;
  updateProfile(userId: string, changes: ProfileChanges, now: Date): Promise<Profile | undefined>;
  /** Upserts on (partner_id, external_id); `newUserId` is used only when a row is inserted. */
  upsertSyncedUser(
    partnerId: string,
    record: SyncRecord,
    newUserId: string,
    now: Date,
  ): Promise<{ userId: string; created: boolean }>;
  findSyncedUser(partnerId: string, externalId: string): Promise<string | undefined>;
  upsertExpert(userId: string, fields: ExpertFields, now: Date): Promise<ExpertRecord>;
  getExpert(userId: string): Promise<ExpertRecord | undefined>;
  setAvailability(
    userId: string,
    availability: ChosenAvailability,
    now: Date,
  ): Promise<ExpertRecord | undefined>;
  setLoad(userId: string, activeSessions: number): Promise<ExpertRecord | undefined>;
  /** Counts one session's rating once; undefined when the expert does not exist. */
  addRating(expertId: string, sessionId: string, rating: number): Promise<RatingSummary | undefined>;
  /** One chunk of experts in sort order after the cursor, filtered by everything SQL can see. */
  listExperts(query: ExpertQuery): Promise<ExpertRecord[]>;
}

/** Who is online: a heartbeat lasts for the TTL unless renewed (Redis or in-process). */
export interface PresenceStore {
  /** Marks the user online until now + TTL and returns that expiry. */
  heartbeat(userId: string): Promise<Date>;
  signOff(userId: string): Promise<void>;
  onlineAmong(userIds: string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

/** Each person's inbox (persistence/notifications.ts). */
export interface NotificationStore {
  /**
   * Stores each notification whose (producer, event id) is new, with the next seq of its
   * person, and the deliveries planned for those it created, in one transaction; returns, in
   * input order, the stored row and whether this call created it.
   */
  insert(
    items: NewNotification[],
    now: Date,
    deliveries?: PlannedDelivery[],
  ): Promise<Array<{ notification: Notification; created: boolean }>>;
  /** Newest first, seq below `beforeSeq` when given. */
  list(
    userId: string,
    options: { unreadOnly: boolean; beforeSeq?: bigint; limit: number },
  ): Promise<Notification[]>;
  /** In seq order: after `afterSeq`, up to `uptoSeq` when given, at most `limit`. */
  between(
    userId: string,
    afterSeq: bigint,
    uptoSeq: bigint | undefined,
    limit: number,
  ): Promise<Notification[]>;
  /** Names and locales of people (those with a profile). */
  people(userIds: string[]): Promise<Map<string, { name: string; locale: string }>>;
  /** The last seq of each person asked for who has any. */
  lastSeqs(userIds: string[]): Promise<Map<string, bigint>>;
  unreadCount(userId: string): Promise<bigint>;
  /** Sets read_at once; undefined when the person has no such notification. */
  markRead(userId: string, notificationId: string, now: Date): Promise<Notification | undefined>;
  /** Marks every unread one (up to `upToSeq` when given) read; returns how many. */
  markAllRead(userId: string, upToSeq: bigint | undefined, now: Date): Promise<bigint>;
}

/** Live notifications between instances (the kit bus, one topic per person). */
export interface NotificationFeed extends LiveFeed<Notification> {
  /** Fire-and-forget: never waits, never throws; a lost one is caught up from the store. */
  publish(notification: Notification): void;
}

/** Favourite experts (persistence/favourites.ts). */
export interface FavouriteStore {
  add(userId: string, expertId: string, now: Date): Promise<void>;
  remove(userId: string, expertId: string): Promise<void>;
  /** Most recent first, after the cursor. */
  list(
    userId: string,
    after: { at: Date; id: string } | undefined,
    limit: number,
  ): Promise<Array<{ expertId: string; createdAt: Date }>>;
  /**
   * Marks, in one statement, the fans of an expert not told within `intervalSeconds` as told
   * at `now`, and returns them.
   */
  claimFans(expertId: string, now: Date, intervalSeconds: number): Promise<string[]>;
}

/** One channel's provider (delivery/ adapters): Web Push, FCM, SMTP, an SMS API, or the log. */
export interface DeliveryAdapter {
  send(target: DeliveryTarget, message: DeliveryMessage): Promise<DeliveryOutcome>;
}

/** Devices, preferences, contact points and the delivery queue (persistence/delivery.ts). */
export interface DeliveryStore {
  contexts(userIds: string[], since: Date): Promise<Map<string, DeliveryContext>>;
  /** Records where email and SMS go; a null leaves that one as it was. */
  setContacts(userId: string, contact: { email: string | null; phone: string | null }): Promise<void>;
  /**
   * Registers the device (again: a known address moves to this person and session, registered
   * now), then removes the person's oldest beyond `keep`.
   */
  upsertDevice(device: Device, keep: number): Promise<Device>;
  /** Removes one of the person's devices (another's is left alone). */
  removeDevice(userId: string, deviceId: string): Promise<void>;
  removeLoginSession(loginSessionId: string): Promise<number>;
  devices(userId: string): Promise<Device[]>;
  overrides(userId: string): Promise<Map<string, boolean>>;
  setOverrides(
    userId: string,
    choices: Array<{ channel: DeliveryChannel; kind: NotificationKind; enabled: boolean }>,
  ): Promise<void>;
  /** Due pending deliveries, leased for `leaseSeconds` (SKIP LOCKED: instances share). */
  claim(limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]>;
  /**
   * Records a batch's attempts in one statement: each attempt's row and its delivery's state,
   * and removes the devices the provider forgot.
   */
  record(attempts: RecordedAttempt[]): Promise<void>;
}
