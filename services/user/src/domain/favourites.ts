import { isAppError } from "@parley/kit/errors";
import type { Logger } from "@parley/kit/log";
import type { Expert } from "./model";
import type { Notifications } from "./notifications";
import type { FavouriteStore } from "./ports";
import { checkUuid, Violations } from "./validation";

export interface FavouritesDeps {
  store: FavouriteStore;
  getExpert(expertId: string): Promise<Expert>;
  notifications: Pick<Notifications, "fanOut">;
  now: () => Date;
  /** A person hears that one favourite came online at most once per this many seconds. */
  intervalSeconds: number;
  log: Logger;
}

export type Favourites = ReturnType<typeof createFavourites>;

const checked = (field: string, id: string) => {
  const v = new Violations();
  checkUuid(v, field, id);
  v.throwIfAny();
};

/** Favourite experts, and "tell me when they come online". */
export function createFavourites(deps: FavouritesDeps) {
  return {
    async add(userId: string, expertId: string): Promise<Expert> {
      checked("expert_id", expertId);
      const expert = await deps.getExpert(expertId);
      await deps.store.add(userId, expertId, deps.now());
      return expert;
    },

    async remove(userId: string, expertId: string): Promise<void> {
      checked("expert_id", expertId);
      await deps.store.remove(userId, expertId);
    },

    /**
     * A page of favourites, newest first. One whose expert is no longer listed (suspended, deleted,
     * no longer an expert) is left out of the page, not an error for the whole list; it comes back
     * if they do.
     */
    async list(userId: string, after: { at: Date; id: string } | undefined, limit: number) {
      const rows = await deps.store.list(userId, after, limit);
      const listed = await Promise.all(
        rows.map((row) =>
          deps.getExpert(row.expertId).catch((error: unknown) => {
            if (isAppError(error, "EXPERT_NOT_FOUND")) return undefined;
            throw error;
          }),
        ),
      );
      const last = rows.at(-1);
      return {
        experts: listed.filter((expert) => expert !== undefined),
        last: last && rows.length === limit ? { at: last.createdAt, id: last.expertId } : undefined,
      };
    },

    /**
     * An expert's online spell began at `at` (their first heartbeat after being offline): each
     * fan not told within the interval is claimed and told, in one statement and one batch of
     * notifications. The event id names the spell, so a repeat of the same spell tells nobody twice.
     */
    async cameOnline(expertId: string, at: Date): Promise<number> {
      // Only an expert taking requests is "online" to their fans.
      const expert = await deps.getExpert(expertId).catch(() => undefined);
      if (expert?.availability !== "available") return 0;
      const fans = await deps.store.claimFans(expertId, at, deps.intervalSeconds);
      if (fans.length === 0) return 0;
      const spell = at.getTime();
      for (let i = 0; i < fans.length; i += FAN_OUT_CHUNK)
        await deps.notifications.fanOut(
          "user",
          fans.slice(i, i + FAN_OUT_CHUNK).map((userId) => ({
            eventId: `favourite_online:${expertId}:${spell}:${userId}`,
            userId,
            kind: "favourite_online" as const,
            data: { expert_id: expertId },
          })),
        );
      return fans.length;
    },
  };
}

/** Notifications stored per statement in a fan-out. */
const FAN_OUT_CHUNK = 2_000;
