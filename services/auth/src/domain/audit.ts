import type { PersonRole, StaffRule, UserPrincipal } from "@parley/kit/auth";
import { isUuid, newId, requireUuid } from "@parley/kit/ids";
import { recordableRequest } from "@parley/kit/secrets";
import { MAX_REASON_LENGTH } from "@parley/kit/staff-reason";
import type { AuditLog, Cursor, Page } from "./ports";

export type AuditOutcome = "done" | "denied";

/** One staff action, or a refused attempt at one, as recorded (never changed afterwards). */
export interface AuditEvent {
  id: string;
  actorId: string;
  actorRole: PersonRole;
  /** "person.suspend" (the RPC's staff rule), or the RPC name when the rule names none. */
  action: string;
  /** "parley.auth.v1.BackOfficeService/SuspendPerson" */
  method: string;
  targetUserId: string | null;
  reason: string;
  outcome: AuditOutcome;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string;
  createdAt: Date;
}

export interface AuditFilter {
  actorId?: string;
  targetUserId?: string;
  action?: string;
  outcome?: AuditOutcome;
}

/** Who acts, on which call: what every recorded action needs besides its own details. */
export interface StaffCall {
  actor: UserPrincipal;
  method: string;
  requestId: string;
  /** The action to record when the method's staff rule names none (RPCs outside the back office). */
  action?: string;
}

/** The audit trail: one event per action, refused attempts included. */
export function createStaffAudit(deps: { log: AuditLog; rules: Map<string, StaffRule>; now: () => Date }) {
  const actionOf = (method: string) => {
    const name = method.slice(method.lastIndexOf("/") + 1);
    return deps.rules.get(name)?.action || name;
  };
  return {
    /** The event of an action carried out, to append in the transaction of the change. */
    done(
      call: StaffCall,
      details: {
        targetUserId: string | null;
        reason: string;
        before: Record<string, unknown> | null;
        after: Record<string, unknown> | null;
      },
    ): AuditEvent {
      return {
        id: newId(),
        actorId: call.actor.userId,
        actorRole: call.actor.role,
        action: call.action ?? actionOf(call.method),
        method: call.method,
        outcome: "done",
        requestId: call.requestId,
        createdAt: deps.now(),
        ...details,
      };
    },

    /** Records a call the permission matrix refused, with what it asked for. */
    async denied(call: StaffCall, request: unknown): Promise<void> {
      const asked = recordableRequest(request);
      const target = typeof asked.userId === "string" ? asked.userId : "";
      await deps.log.append([
        {
          id: newId(),
          actorId: call.actor.userId,
          actorRole: call.actor.role,
          action: actionOf(call.method),
          method: call.method,
          targetUserId: isUuid(target) ? target.toLowerCase() : null,
          reason: typeof asked.reason === "string" ? asked.reason.slice(0, MAX_REASON_LENGTH) : "",
          outcome: "denied",
          before: null,
          after: asked,
          requestId: call.requestId,
          createdAt: deps.now(),
        },
      ]);
    },

    /** Appends events outside any other change (reads worth recording). */
    append: (events: AuditEvent[]) => deps.log.append(events),

    list(filter: AuditFilter, limit: number, after?: Cursor): Promise<Page<AuditEvent>> {
      return deps.log.list(
        {
          ...filter,
          ...(filter.actorId ? { actorId: requireUuid(filter.actorId, "actor_user_id") } : {}),
          ...(filter.targetUserId
            ? { targetUserId: requireUuid(filter.targetUserId, "target_user_id") }
            : {}),
        },
        limit,
        after,
      );
    },
  };
}

export type StaffAudit = ReturnType<typeof createStaffAudit>;
