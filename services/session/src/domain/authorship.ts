import { newId } from "@parley/kit/ids";

/** Messages and their events, as a deleted person's authorship is removed from them. */
export interface AuthorshipStore {
  /** Replaces `authorId` as sender of every message (and message event) with `replacement`. */
  replaceAuthor(authorId: string, replacement: string): Promise<number>;
}

/**
 * A deleted person's messages stay in the other participant's conversation, with an author that
 * names nobody: a fresh `deleted:<uuid>` per deletion, so their lines still read as one voice
 * but cannot be tied to the person or to anyone else's deletion.
 */
export type Authorship = ReturnType<typeof createAuthorship>;

export function createAuthorship(store: AuthorshipStore) {
  return {
    forgetAuthor: (userId: string) => store.replaceAuthor(userId, `deleted:${newId()}`),
  };
}
