import type { Sql } from "@parley/kit/db";
import type { AuthorshipStore } from "../domain/authorship";

export function createAuthorshipStore(sql: Sql): AuthorshipStore {
  return {
    async replaceAuthor(authorId, replacement) {
      return sql.begin(async (tx) => {
        const changed = await tx`update sessions.messages set sender_id = ${replacement}
          where sender_id = ${authorId} returning 1`;
        // The stored events replayed by WatchSession carry the message too.
        await tx`update sessions.session_events
          set body = jsonb_set(body, '{message,senderId}', to_jsonb(${replacement}::text))
          where body->>'type' = 'message' and body->'message'->>'senderId' = ${authorId}`;
        return changed.length;
      }) as Promise<number>;
    },
  };
}
