import { type AppError, isAppError } from "@parley/kit/errors";

/** Runs a call that must fail and returns its AppError (reason, kind, metadata) for asserting. */
export async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}
