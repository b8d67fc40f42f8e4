import type { Sql } from "@parley/kit/db";
import { newId } from "@parley/kit/ids";
import { enqueueOutbox } from "@parley/kit/outbox";
import { drizzle } from "drizzle-orm/postgres-js";
import type { AuthStore } from "../domain/ports";
import { createAccountStore } from "./accounts";
import { createApiKeyStore } from "./api-keys";
import { createLoginSessionStore } from "./login-sessions";
import { createMfaStore } from "./mfa";
import { createPasswordResetStore } from "./password-resets";
import * as schema from "./schema";
import { OUTBOX } from "./shared";
import { createSigningKeyStore } from "./signing-keys";

/**
 * Auth's storage over one pool, one store per concern. `now`: the service's clock, read again
 * for revocation times once the account row is locked.
 */
export function createAuthStore(client: Sql, now: () => Date = () => new Date()): AuthStore {
  const db = drizzle(client, { schema });
  return {
    ...createAccountStore(db, now),
    ...createLoginSessionStore(db, client),
    ...createMfaStore(db),
    ...createPasswordResetStore(db),
    ...createApiKeyStore(db),
    ...createSigningKeyStore(db),
    enqueueOutbox: (messages) =>
      enqueueOutbox(
        client,
        OUTBOX,
        messages.map((message) => ({ id: newId(), payload: message })),
      ),
  };
}
