import { isAppError } from "@parley/kit/errors";
import type { Core } from "./core";
import type { Leased, SessionRecord } from "./model";

export type Settlement = ReturnType<typeof createSettlement>;

/** Settlements one worker runs at once. */
const PARALLEL_SETTLEMENTS = 16;

/**
 * A stopped session's money: an ended session is settled (what is left of its hold released,
 * the invoice created); a request that never became a session gets its hold back. Each
 * settlement runs under a claim committed first, with no transaction open while billing is
 * called; billing is idempotent per session, so a settlement repeated after a crash is harmless.
 */
export function createSettlement(core: Core) {
  const { store, billing, now, log } = core;

  async function settleMoney(session: SessionRecord): Promise<string | null> {
    if (session.status === "ended") {
      const settleWith = (holdId: string | null) =>
        billing.settleSession({
          sessionId: session.id,
          payerUserId: session.userId,
          payeeUserId: session.expertId,
          holdId,
          rateMinor: session.rateMinor,
          currency: session.currency,
          kind: session.kind,
        });
      // A hold billing no longer knows has nothing left to release: invoice without it.
      const { invoiceId } = await settleWith(session.holdId).catch((error: unknown) => {
        if (session.holdId && isAppError(error, "HOLD_NOT_FOUND")) return settleWith(null);
        throw error;
      });
      return invoiceId;
    }
    // A request whose PlaceHold answer never came (billing unreachable, the outcome unknown) may
    // hold money all the same: asked again under the same key, billing answers with that hold
    // (or, if it never was, places it now), which is then released. A refusal placed nothing.
    const holdId =
      session.holdId ??
      (await billing.placeHold(core.holdRequest(session)).then(
        (placed) => placed.holdId,
        (error: unknown) => {
          // The key was used with other terms (MIN_MINUTES or HOLD_TTL_SECONDS changed since): a
          // hold exists that cannot be named; it gives its money back when it expires.
          if (isAppError(error, "IDEMPOTENCY_KEY_REUSED")) {
            log.warn({ sessionId: session.id }, "a lost hold could not be found again; it expires by itself");
            return null;
          }
          // Refused (funds, a frozen wallet, a request billing finds invalid): nothing was held.
          // Anything else (an outage, a credential problem) is tried again.
          if (
            isAppError(error) &&
            ["failed_precondition", "not_found", "invalid_argument"].includes(error.kind)
          )
            return null;
          throw error;
        },
      ));
    if (holdId)
      await billing.releaseHold(holdId, `release:${session.id}`).catch((error: unknown) => {
        // A hold that expired meanwhile has already given its funds back.
        if (!isAppError(error, "HOLD_NOT_OPEN")) throw error;
      });
    return null;
  }

  async function settleClaimed({ session, epoch }: Leased): Promise<SessionRecord | undefined> {
    try {
      const invoiceId = await settleMoney(session);
      return await store.transaction((tx) => tx.finishSettlement(session.id, epoch, invoiceId));
    } catch (error) {
      await store.transaction((tx) => tx.releaseSettlement(session.id, epoch)).catch(() => undefined);
      throw error;
    }
  }

  async function settle(sessionId: string) {
    const at = now();
    const claim = await store.transaction((tx) => tx.claimSettlementOf(sessionId, at, core.leaseUntil(at)));
    if (claim) await settleClaimed(claim);
  }

  return {
    /** Right after a session stopped: settle now (a failure is left to the worker), report the load. */
    async afterStop(session: SessionRecord) {
      await settle(session.id).catch((error: unknown) =>
        log.warn({ err: error, sessionId: session.id }, "settlement failed; the worker retries"),
      );
      await core.reportLoad(session.expertId);
    },

    /** One pass over stopped sessions not settled yet; failures wait for the next pass. */
    async settlePending(limit: number): Promise<number> {
      const at = now();
      const claims = await store.transaction((tx) => tx.claimSettlement(at, core.leaseUntil(at), limit));
      let settled = 0;
      for (let i = 0; i < claims.length; i += PARALLEL_SETTLEMENTS)
        await Promise.all(
          claims.slice(i, i + PARALLEL_SETTLEMENTS).map((claim) =>
            settleClaimed(claim).then(
              () => {
                settled += 1;
              },
              (error: unknown) =>
                log.warn(
                  { err: error, sessionId: claim.session.id },
                  "settlement failed; retrying next tick",
                ),
            ),
          ),
        );
      return settled;
    },
  };
}
