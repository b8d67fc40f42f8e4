import { AsyncLocalStorage } from "node:async_hooks";
import type { Metadata } from "@grpc/grpc-js";
import type { Principal } from "../auth/principal";
import type { Logger } from "../log";

/** Everything a handler knows about the call it serves, besides the request itself. */
export interface CallContext {
  /** Taken from the caller's `x-request-id` metadata, or created; sent back and passed on. */
  requestId: string;
  /** A child logger that stamps every line with the request id and method. */
  log: Logger;
  principal: Principal;
  /** "parley.billing.v1.BillingService/Charge" */
  method: string;
  metadata: Metadata;
  /** The transport peer ("ipv4:10.0.0.5:51234"): the edge or another service, not the end client. */
  peer: string;
  /** Aborted when the caller cancels, the deadline passes, or the server shuts down. */
  signal: AbortSignal;
}

const storage = new AsyncLocalStorage<CallContext>();

export const runInContext = <T>(context: CallContext, fn: () => T): T => storage.run(context, fn);

/** The context of the call being served, if any (used to propagate the request id). */
export const currentContext = (): CallContext | undefined => storage.getStore();
