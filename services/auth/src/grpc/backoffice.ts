import type { UserPrincipal } from "@parley/kit/auth";
import { permissionDenied } from "@parley/kit/errors";
import type { CallContext, Handlers } from "@parley/kit/grpc";
import { cursors, type Paging } from "@parley/kit/paging";
import {
  type AuditEvent as AuditEventMessage,
  AuditOutcome,
  type BackOfficeServiceService,
} from "@parley/proto/parley/auth/v1/backoffice";
import type { AuditEvent, StaffAudit, StaffCall } from "../domain/audit";
import type { People } from "../domain/people";
import { accountMessage, roleToProto } from "./mapping";

export interface BackOfficeDomain {
  audit: StaffAudit;
  people: People;
  paging: Paging;
}

const PAGE_SIZES = { default: 20, max: 100 };

const OUTCOME_TO_PROTO = { done: AuditOutcome.AUDIT_OUTCOME_DONE, denied: AuditOutcome.AUDIT_OUTCOME_DENIED };

export const auditEventMessage = (event: AuditEvent): AuditEventMessage => ({
  eventId: event.id,
  actorUserId: event.actorId,
  actorRole: roleToProto(event.actorRole),
  action: event.action,
  method: event.method,
  targetUserId: event.targetUserId ?? "",
  reason: event.reason,
  outcome: OUTCOME_TO_PROTO[event.outcome],
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
  return {
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
      const outcome =
        request.outcome === AuditOutcome.AUDIT_OUTCOME_DONE
          ? ("done" as const)
          : request.outcome === AuditOutcome.AUDIT_OUTCOME_DENIED
            ? ("denied" as const)
            : undefined;
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
