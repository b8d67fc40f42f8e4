import type {
  ChosenAvailability,
  ExpertFields,
  ExpertQuery,
  ExpertRecord,
  Profile,
  ProfileChanges,
  RatingSummary,
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
