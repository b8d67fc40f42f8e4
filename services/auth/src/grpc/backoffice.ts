import { isStaff, type UserPrincipal } from "@parley/kit/auth";
import { enumMapping } from "@parley/kit/enums";
import { permissionDenied, unavailable } from "@parley/kit/errors";
import type { CallContext, Handlers, ServiceClient } from "@parley/kit/grpc";
import { cursors, type Paging, pageSize } from "@parley/kit/paging";
import {
  type AuditEvent as AuditEventMessage,
  AuditOutcome,
  type BackOfficeServiceService,
  type Person as PersonMessage,
} from "@parley/proto/parley/auth/v1/backoffice";
import type { BillingServiceService } from "@parley/proto/parley/billing/v1/billing";
import type { SessionServiceService } from "@parley/proto/parley/session/v1/session";
import type { SessionStaffServiceService } from "@parley/proto/parley/session/v1/staff";
import type { AuditEvent, StaffAudit, StaffCall } from "../domain/audit";
import { type People, type Person, peopleQuery } from "../domain/people";
import { accountMessage, roleToProto } from "./mapping";

/** The other services the back office reads through: the staff member's own token goes along. */
export interface BackOfficeUpstreams {
  billing: ServiceClient<typeof BillingServiceService>;
  sessions: ServiceClient<typeof SessionServiceService>;
  /** Called as auth (internal RPCs). */
  sessionStaff: ServiceClient<typeof SessionStaffServiceService>;
}

export interface BackOfficeDomain {
  audit: StaffAudit;
  people: People;
  paging: Paging;
  upstreams?: BackOfficeUpstreams;
}

const personMessage = (person: Person): PersonMessage => ({
  userId: person.userId,
  ...(person.account ? { account: accountMessage(person.account) } : {}),
  displayName: person.profile?.displayName ?? "",
  partnerId: person.profile?.partnerId ?? "",
  externalId: person.profile?.externalId ?? "",
});

/** The caller's own bearer token, passed on to the services that check it again. */
const bearerOf = (ctx: CallContext) => {
  const header = ctx.metadata.get("authorization")[0];
  return typeof header === "string" ? header.replace(/^Bearer /, "") : "";
};

const PAGE_SIZES = { default: 20, max: 100 };

const OUTCOME = enumMapping<AuditEvent["outcome"], AuditOutcome>({
  done: AuditOutcome.AUDIT_OUTCOME_DONE,
  denied: AuditOutcome.AUDIT_OUTCOME_DENIED,
});

export const auditEventMessage = (event: AuditEvent): AuditEventMessage => ({
  eventId: event.id,
  actorUserId: event.actorId,
  actorRole: roleToProto(event.actorRole),
  action: event.action,
  method: event.method,
  targetUserId: event.targetUserId ?? "",
  reason: event.reason,
  outcome: OUTCOME.toProto(event.outcome),
  before: event.before ?? undefined,
  after: event.after ?? undefined,
  requestId: event.requestId,
  createTime: event.createdAt,
});

/** The acting staff member of a back-office call (the permission map admits only people). */
export function staffCall(ctx: CallContext): StaffCall {
  if (ctx.principal.kind !== "user") throw permissionDenied("PERMISSION_DENIED", "staff only");
  return { actor: ctx.principal as UserPrincipal, method: ctx.method, requestId: ctx.requestId };
}

export function backOfficeHandlers(domain: BackOfficeDomain): Handlers<typeof BackOfficeServiceService> {
  const { audit, people, paging } = domain;
  const upstream = () => {
    if (!domain.upstreams)
      throw unavailable("UPSTREAMS_UNAVAILABLE", "the back office's services are not configured");
    return domain.upstreams;
  };
  return {
    async searchPeople(request, ctx) {
      const query = peopleQuery(request);
      // Every search is on the record with what was asked (who looked for whom).
      await audit.append([
        audit.done(staffCall(ctx), { targetUserId: null, reason: "", before: null, after: { query } }),
      ]);
      const byAccount = "email" in query || "phone" in query;
      const page = byAccount
        ? paging.open(request, {
            query: ["auth.SearchPeople", query],
            sizes: PAGE_SIZES,
            cursor: cursors.uuid,
          })
        : undefined;
      const found = await people.search(query, {
        size: page?.size ?? pageSize(request.pageSize, PAGE_SIZES),
        afterId: page?.after,
        token: byAccount ? "" : request.pageToken,
      });
      return {
        people: found.people.map(personMessage),
        nextPageToken: page ? page.next(found.nextAfterId) : (found.nextPageToken ?? ""),
      };
    },

    async getPerson(request, ctx) {
      const call = staffCall(ctx);
      const person = await people.view(call, request.userId, request.reason);
      // Moderators see no money.
      const wallet = isStaff(call.actor)
        ? (
            await upstream().billing.getWallet(
              { userId: person.userId, currency: "", rateMinor: 0n },
              { bearerToken: bearerOf(ctx) },
            )
          ).wallet
        : undefined;
      return { person: personMessage(person), ...(wallet ? { wallet } : {}) };
    },

    async listPersonSessions(request, ctx) {
      const person = await people.view(staffCall(ctx), request.userId, request.reason);
      return upstream().sessions.listSessions(
        {
          participantId: person.userId,
          statuses: [],
          kind: 0,
          pageSize: request.pageSize,
          pageToken: request.pageToken,
        },
        { bearerToken: bearerOf(ctx) },
      );
    },

    async listPersonTransactions(request, ctx) {
      const person = await people.view(staffCall(ctx), request.userId, request.reason);
      return upstream().billing.listTransactions(
        {
          userId: person.userId,
          account: request.account,
          currency: "",
          pageSize: request.pageSize,
          pageToken: request.pageToken,
        },
        { bearerToken: bearerOf(ctx) },
      );
    },

    async listLiveSessions(request) {
      return upstream().sessionStaff.listLiveSessions(request);
    },

    async suspendPerson(request, ctx) {
      return {
        account: accountMessage(await people.suspend(staffCall(ctx), request.userId, request.reason)),
      };
    },

    async freezeWallet(request, ctx) {
      return { frozen: await people.setWalletFrozen(staffCall(ctx), request.userId, request.reason, true) };
    },

    async unfreezeWallet(request, ctx) {
      return { frozen: await people.setWalletFrozen(staffCall(ctx), request.userId, request.reason, false) };
    },

    async unsuspendPerson(request, ctx) {
      return {
        account: accountMessage(await people.unsuspend(staffCall(ctx), request.userId, request.reason)),
      };
    },

    async listAuditEvents(request) {
      const outcome = OUTCOME.toOptional(request.outcome, "outcome");
      const filter = {
        ...(request.actorUserId ? { actorId: request.actorUserId } : {}),
        ...(request.targetUserId ? { targetUserId: request.targetUserId } : {}),
        ...(request.action ? { action: request.action } : {}),
        ...(outcome ? { outcome } : {}),
      };
      const page = paging.open(request, {
        query: ["auth.ListAuditEvents", filter],
        sizes: PAGE_SIZES,
        cursor: cursors.timeAndId,
      });
      const listed = await audit.list(filter, page.size, page.after);
      return { events: listed.items.map(auditEventMessage), nextPageToken: page.next(listed.nextCursor) };
    },
  };
}
