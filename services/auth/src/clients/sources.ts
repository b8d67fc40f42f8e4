import type { ServiceClient } from "@parley/kit/grpc";
import {
  type BillingServiceService,
  Invoice,
  Transaction,
  Wallet,
} from "@parley/proto/parley/billing/v1/billing";
import {
  Message,
  Session,
  type SessionServiceService,
  SessionStatus,
} from "@parley/proto/parley/session/v1/session";
import { Profile, type UserServiceService } from "@parley/proto/parley/user/v1/user";
import type { DataSources, DeletionChecks, Listing } from "../domain/ports";

/** The most pages of one list an export reads (100–200 items each). */
const MAX_PAGES = 50;

/** Every page of a list, up to MAX_PAGES; `complete` says whether that was all of it. */
async function allPages<T>(
  page: (token: string) => Promise<{ items: T[]; next: string }>,
): Promise<Listing<T>> {
  const items: T[] = [];
  let token = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const { items: found, next } = await page(token);
    items.push(...found);
    if (!next) return { items, complete: true };
    token = next;
  }
  return { items, complete: false };
}

const mapped = <T, U>(listing: Listing<T>, map: (item: T) => U): Listing<U> => ({
  items: listing.items.map(map),
  complete: listing.complete,
});

const json = (value: unknown) => value as Record<string, unknown>;

/**
 * The person's data in user, session and billing, each read with their own token: the services'
 * own checks make it theirs and nobody else's.
 */
export function dataSources(clients: {
  user: ServiceClient<typeof UserServiceService>;
  sessions: ServiceClient<typeof SessionServiceService>;
  billing: ServiceClient<typeof BillingServiceService>;
}): DataSources {
  const as = (bearerToken: string) => ({ bearerToken });
  return {
    async profile(token) {
      const { profile } = await clients.user.getMe({}, as(token));
      return profile ? json(Profile.toJSON(profile)) : {};
    },
    async sessions(token) {
      const sessions = await allPages(async (pageToken) => {
        const page = await clients.sessions.listSessions(
          { participantId: "", statuses: [], kind: 0, pageSize: 100, pageToken },
          as(token),
        );
        return { items: page.sessions, next: page.nextPageToken };
      });
      return mapped(sessions, (s) => ({ ...json(Session.toJSON(s)), sessionId: s.sessionId }));
    },
    async messagesSent(token, sessionId, userId) {
      const messages = await allPages(async (pageToken) => {
        const page = await clients.sessions.listMessages({ sessionId, pageSize: 200, pageToken }, as(token));
        return { items: page.messages, next: page.nextPageToken };
      });
      return {
        items: messages.items.filter((m) => m.senderId === userId).map((m) => json(Message.toJSON(m))),
        complete: messages.complete,
      };
    },
    async wallet(token) {
      const { wallet } = await clients.billing.getWallet(
        { userId: "", currency: "", rateMinor: 0n },
        as(token),
      );
      return wallet ? json(Wallet.toJSON(wallet)) : {};
    },
    async transactions(token) {
      const items = await allPages(async (pageToken) => {
        const page = await clients.billing.listTransactions(
          { userId: "", account: 0, currency: "", pageSize: 200, pageToken },
          as(token),
        );
        return { items: page.transactions, next: page.nextPageToken };
      });
      return mapped(items, (t) => json(Transaction.toJSON(t)));
    },
    async invoices(token) {
      const items = await allPages(async (pageToken) => {
        const page = await clients.billing.listInvoices({ userId: "", pageSize: 200, pageToken }, as(token));
        return { items: page.invoices, next: page.nextPageToken };
      });
      return mapped(items, (i) => json(Invoice.toJSON(i)));
    },
  };
}

/** Whether an account may be deleted now: no open session (asked as the person), no money moving. */
export function deletionChecks(
  sessions: ServiceClient<typeof SessionServiceService>,
  pendingMoney: DeletionChecks["pendingMoney"],
): DeletionChecks {
  return {
    async openSession(token) {
      const { sessions: open } = await sessions.listSessions(
        {
          participantId: "",
          statuses: [
            SessionStatus.SESSION_STATUS_REQUESTED,
            SessionStatus.SESSION_STATUS_WAITING,
            SessionStatus.SESSION_STATUS_ACTIVE,
          ],
          kind: 0,
          pageSize: 1,
          pageToken: "",
        },
        { bearerToken: token },
      );
      return open[0]?.sessionId;
    },
    pendingMoney,
  };
}
