import { isStaff, type Principal } from "@parley/kit/auth";
import { invalidArgument, notFound, permissionDenied } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type {
  Availability,
  ChosenAvailability,
  Expert,
  ExpertCursor,
  ExpertFields,
  ExpertQuery,
  ExpertRecord,
  Preferences,
  Profile,
  ProfileChanges,
  RatingSummary,
  SyncRecord,
  SyncResult,
} from "./model";
import type { DeliveryStore, PresenceStore, UserStore } from "./ports";
import {
  checkAvatarUrl,
  checkDisplayName,
  checkLanguages,
  checkPreferences,
  checkText,
  checkUuid,
  Violations,
} from "./validation";

export const DEFAULT_PREFERENCES: Preferences = {
  locale: "",
  timeZone: "",
  emailNotifications: true,
  pushNotifications: true,
};

/** Fields UpdateProfile may change, and the subset only staff may change. */
const UPDATABLE = new Set(["display_name", "avatar_url", "bio", "languages", "preferences", "verified"]);
const STAFF_ONLY = new Set(["verified"]);
/** With an availability filter, how many chunks one ListExperts call scans before returning a short page. */
const MAX_SCANS = 5;

export interface UsersDeps {
  store: UserStore;
  presence: PresenceStore;
  now: () => Date;
  /** Contact points for delivery: the account's email and phone, from EnsureProfile. */
  contacts?: Pick<DeliveryStore, "setContacts">;
  /** Called (not awaited) when an expert's heartbeat starts an online spell. */
  cameOnline?: (expertId: string, at: Date) => void;
}

export interface UpdateProfileInput {
  userId: string;
  mask: string[];
  /** Fields set (non-default) in the request's profile, by proto name. */
  presentFields: string[];
  values: Required<ProfileChanges>;
}

export type Users = ReturnType<typeof createUsers>;

const notYours = () => permissionDenied("NOT_YOUR_PROFILE", "you may only change your own profile");

/** The profile a person acts on: their own, or anyone's for staff. */
function targetOf(principal: Principal, requested: string): string {
  if (principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "only people have profiles");
  if (!requested || requested === principal.userId) return principal.userId;
  if (!isStaff(principal)) throw notYours();
  return requested;
}

function defaultDisplayName(email: string): string {
  const local = email.split("@")[0]?.trim() ?? "";
  return local.length > 0 ? local.slice(0, 80) : "New user";
}

/** A user's profile without the private fields, for anyone but the user and staff. */
function publicView(profile: Profile): Profile {
  return {
    ...profile,
    preferences: { locale: "", timeZone: "", emailNotifications: false, pushNotifications: false },
    partnerId: null,
    externalId: null,
    syncStatus: null,
    lastSyncedAt: null,
  };
}

/** Effective availability: chosen OFFLINE or no presence → OFFLINE; then UNAVAILABLE; then BUSY at capacity. */
function effectiveAvailability(expert: ExpertRecord, online: boolean): Availability {
  if (expert.chosenAvailability === "offline" || !online) return "offline";
  if (expert.chosenAvailability === "unavailable") return "unavailable";
  return expert.activeSessions >= expert.maxConcurrentSessions ? "busy" : "available";
}

function cursorOf(query: Pick<ExpertQuery, "sort" | "rateKind">, expert: ExpertRecord): ExpertCursor {
  switch (query.sort) {
    case "rating":
      return { key: [expert.ratingAverage, expert.ratingCount], userId: expert.userId };
    case "rate_asc":
    case "rate_desc":
      return {
        key: [(query.rateKind === "call" ? expert.callRateMinor : expert.chatRateMinor).toString()],
        userId: expert.userId,
      };
    case "experience":
      return { key: [expert.experienceYears], userId: expert.userId };
  }
}

export function createUsers(deps: UsersDeps) {
  const { store, presence, now } = deps;
  const withAvailability = async (record: ExpertRecord): Promise<Expert> => {
    const online = (await presence.onlineAmong([record.userId])).has(record.userId);
    return { ...record, availability: effectiveAvailability(record, online) };
  };

  /** A profile for someone auth has not told us about yet: a placeholder name, replaced by auth's. */
  const ensurePlaceholder = async (userId: string, displayName: string) =>
    store.ensureProfile({ userId, displayName, placeholder: true }, now());

  const syncOne = async (partnerId: string, record: SyncRecord): Promise<SyncResult> => {
    const v = new Violations();
    if (record.externalId.length < 1 || record.externalId.length > 128)
      v.add("external_id", "must be 1 to 128 characters");
    checkDisplayName(v, "display_name", record.displayName);
    checkAvatarUrl(v, "avatar_url", record.avatarUrl);
    checkText(v, "bio", record.bio, 2000);
    checkLanguages(v, "languages", record.languages);
    if (v.first) {
      return {
        externalId: record.externalId,
        userId: "",
        outcome: "failed",
        errorReason: "VALIDATION_FAILED",
        errorMessage: `${v.first.field}: ${v.first.description}`,
      };
    }
    const { userId, created } = await store.upsertSyncedUser(
      partnerId,
      { ...record, displayName: record.displayName.trim() },
      newId(),
      now(),
    );
    return {
      externalId: record.externalId,
      userId,
      outcome: created ? "created" : "updated",
      errorReason: "",
      errorMessage: "",
    };
  };

  return {
    /** The caller's profile; a missing one is created with defaults, never reported as an error. */
    async getMe(userId: string): Promise<Profile> {
      return (await store.getProfile(userId)) ?? (await ensurePlaceholder(userId, "New user")).profile;
    },

    async getUser(principal: Principal, userId: string): Promise<Profile> {
      const v = new Violations();
      checkUuid(v, "user_id", userId);
      v.throwIfAny();
      const profile = await store.getProfile(userId);
      const missing = () => notFound("USER_NOT_FOUND", "no such user");
      // Soft deletion: a deleted person is gone for everyone but staff.
      if (!profile || (profile.status === "deleted" && !isStaff(principal))) throw missing();
      if (principal.kind === "partner") {
        // A partner key sees only its own synced users; others look like they do not exist.
        if (profile.partnerId !== principal.partnerId) throw missing();
        return profile;
      }
      if (isStaff(principal) || (principal.kind === "user" && principal.userId === userId)) return profile;
      return publicView(profile);
    },

    /** Applies exactly the masked fields; anything else in the request is refused (no mass assignment). */
    async updateProfile(principal: Principal, input: UpdateProfileInput): Promise<Profile> {
      const userId = targetOf(principal, input.userId);
      if (input.mask.length === 0)
        throw invalidArgument("UPDATE_MASK_REQUIRED", "update_mask must name the fields to change");
      const mask = new Set(input.mask);
      for (const path of mask) {
        if (!UPDATABLE.has(path))
          throw invalidArgument("FIELD_NOT_UPDATABLE", `${path} cannot be changed with UpdateProfile`, {
            metadata: { field: path },
          });
        if (STAFF_ONLY.has(path) && !isStaff(principal))
          throw permissionDenied("FIELD_NOT_PERMITTED", `only staff may set ${path}`, {
            metadata: { field: path },
          });
      }
      for (const field of input.presentFields) {
        if (field !== "user_id" && !mask.has(field))
          throw invalidArgument("FIELD_OUTSIDE_MASK", `${field} is set but not named in update_mask`, {
            metadata: { field },
          });
      }
      const changes: ProfileChanges = {};
      const v = new Violations();
      const { values } = input;
      if (mask.has("display_name")) {
        checkDisplayName(v, "profile.display_name", values.display_name);
        changes.display_name = values.display_name.trim();
      }
      if (mask.has("avatar_url")) {
        checkAvatarUrl(v, "profile.avatar_url", values.avatar_url);
        changes.avatar_url = values.avatar_url;
      }
      if (mask.has("bio")) {
        checkText(v, "profile.bio", values.bio, 2000);
        changes.bio = values.bio;
      }
      if (mask.has("languages")) {
        checkLanguages(v, "profile.languages", values.languages);
        changes.languages = values.languages;
      }
      if (mask.has("preferences")) {
        checkPreferences(v, "profile.preferences", values.preferences);
        changes.preferences = values.preferences;
      }
      if (mask.has("verified")) changes.verified = values.verified;
      v.throwIfAny();
      if (principal.kind === "user" && principal.userId === userId)
        await ensurePlaceholder(userId, "New user");
      const updated = await store.updateProfile(userId, changes, now());
      if (!updated) throw notFound("USER_NOT_FOUND", "no such user");
      return updated;
    },

    async ensureProfile(userId: string, displayName: string, contact: { email: string; phone: string }) {
      const v = new Violations();
      checkUuid(v, "user_id", userId);
      v.throwIfAny();
      // Every account must get a profile: an over-long name is cut, never a reason to refuse
      // (auth's outbox would retry a refusal forever). It replaces a placeholder made by a read
      // that came first, never a name the person set since, whatever order the calls arrive in.
      const ensured = await store.ensureProfile(
        {
          userId,
          displayName: displayName.trim().slice(0, 80) || defaultDisplayName(contact.email),
          placeholder: false,
        },
        now(),
      );
      // The account's email and phone are where email and SMS notifications go (auth sends
      // them with every ensure).
      const email = /^[^\s@]+@[^\s@]+$/.test(contact.email) ? contact.email : null;
      const phone = /^\+[1-9]\d{6,14}$/.test(contact.phone) ? contact.phone : null;
      if (email || phone) await deps.contacts?.setContacts(userId, { email, phone });
      return ensured;
    },

    syncUser: syncOne,

    async lookupSyncedUser(partnerId: string, externalId: string): Promise<string> {
      if (!partnerId || !externalId)
        throw invalidArgument("VALIDATION_FAILED", "partner_id and external_id are required");
      const userId = await store.findSyncedUser(partnerId, externalId);
      if (!userId) throw notFound("SYNCED_USER_NOT_FOUND", "that partner never synced that external id");
      return userId;
    },

    async upsertExpertProfile(principal: Principal, expertId: string, fields: ExpertFields): Promise<Expert> {
      const userId = targetOf(principal, expertId);
      if (principal.kind === "user" && !isStaff(principal) && principal.role !== "expert")
        throw permissionDenied(
          "NOT_AN_EXPERT",
          "only experts have expert profiles; roles are changed in auth",
        );
      const v = new Violations();
      checkUuid(v, "expert_id", userId);
      if (!/^[A-Z]{3}$/.test(fields.currency))
        v.add("profile.chat_rate.currency", "must be an ISO 4217 code");
      if (fields.chatRateMinor < 0n) v.add("profile.chat_rate.amount_minor", "must be >= 0");
      if (fields.callRateMinor < 0n) v.add("profile.call_rate.amount_minor", "must be >= 0");
      if (
        !Number.isInteger(fields.maxConcurrentSessions) ||
        fields.maxConcurrentSessions < 1 ||
        fields.maxConcurrentSessions > 20
      )
        v.add("profile.max_concurrent_sessions", "must be 1 to 20");
      if (fields.specialisations.length > 20) v.add("profile.specialisations", "at most 20");
      for (const s of fields.specialisations)
        if (s.trim().length < 1 || s.length > 40)
          v.add("profile.specialisations", "each must be 1 to 40 characters");
      checkLanguages(v, "profile.languages", fields.languages);
      if (fields.experienceYears < 0 || fields.experienceYears > 80)
        v.add("profile.experience_years", "must be 0 to 80");
      checkText(v, "profile.bio", fields.bio, 4000);
      v.throwIfAny();
      await ensurePlaceholder(userId, "New expert");
      const specialisations = [...new Set(fields.specialisations.map((s) => s.trim().toLowerCase()))];
      return withAvailability(await store.upsertExpert(userId, { ...fields, specialisations }, now()));
    },

    async setAvailability(
      principal: Principal,
      expertId: string,
      availability: Availability | undefined,
    ): Promise<Expert> {
      const userId = targetOf(principal, expertId);
      if (availability === "busy")
        throw invalidArgument("AVAILABILITY_DERIVED", "BUSY is derived from live sessions and cannot be set");
      if (!availability) throw invalidArgument("VALIDATION_FAILED", "availability is required");
      const updated = await store.setAvailability(userId, availability satisfies ChosenAvailability, now());
      if (!updated)
        throw notFound("EXPERT_NOT_FOUND", "no expert profile; create one with UpsertExpertProfile");
      return withAvailability(updated);
    },

    async getExpert(expertId: string): Promise<Expert> {
      const v = new Violations();
      checkUuid(v, "expert_id", expertId);
      v.throwIfAny();
      const record = await store.getExpert(expertId);
      if (record?.status !== "active") throw notFound("EXPERT_NOT_FOUND", "no such expert");
      return withAvailability(record);
    },

    /**
     * One page in sort order. SQL narrows by everything it can see (including the chosen
     * availability and load); presence lives in Redis/in-process, so an availability filter
     * is finished here, scanning at most MAX_SCANS chunks before returning a shorter page.
     */
    async listExperts(query: ExpertQuery): Promise<{ experts: Expert[]; next?: ExpertCursor }> {
      const experts: Expert[] = [];
      let after = query.after;
      let lastExamined: ExpertRecord | undefined;
      for (let scan = 0; scan < MAX_SCANS; scan++) {
        const chunk = query.limit + 1;
        const rows = await store.listExperts({ ...query, after, limit: chunk });
        const online = await presence.onlineAmong(rows.map((row) => row.userId));
        for (const row of rows) {
          if (experts.length === query.limit && lastExamined)
            return { experts, next: cursorOf(query, lastExamined) };
          lastExamined = row;
          const availability = effectiveAvailability(row, online.has(row.userId));
          if (!query.availability || query.availability === availability)
            experts.push({ ...row, availability });
        }
        if (rows.length < chunk || !lastExamined) return { experts };
        after = cursorOf(query, lastExamined);
      }
      return { experts, next: after };
    },

    async reportExpertLoad(expertId: string, activeSessions: number): Promise<Availability> {
      const v = new Violations();
      checkUuid(v, "expert_id", expertId);
      if (activeSessions < 0) v.add("active_sessions", "must be >= 0");
      v.throwIfAny();
      const updated = await store.setLoad(expertId, activeSessions);
      if (!updated) throw notFound("EXPERT_NOT_FOUND", "no such expert");
      return (await withAvailability(updated)).availability;
    },

    async reportPresence(userId: string, online: boolean): Promise<Date | undefined> {
      const v = new Violations();
      checkUuid(v, "user_id", userId);
      v.throwIfAny();
      if (online) {
        const wasOnline = deps.cameOnline ? (await presence.onlineAmong([userId])).has(userId) : true;
        const expiresAt = await presence.heartbeat(userId);
        if (!wasOnline) deps.cameOnline?.(userId, now());
        return expiresAt;
      }
      await presence.signOff(userId);
      return undefined;
    },

    async updateRatingSummary(expertId: string, sessionId: string, rating: number): Promise<RatingSummary> {
      const v = new Violations();
      checkUuid(v, "expert_id", expertId);
      checkUuid(v, "session_id", sessionId);
      if (!Number.isInteger(rating) || rating < 1 || rating > 5) v.add("rating", "must be 1 to 5");
      v.throwIfAny();
      const summary = await store.addRating(expertId, sessionId, rating);
      if (!summary) throw notFound("EXPERT_NOT_FOUND", "no such expert");
      return summary;
    },
  };
}
