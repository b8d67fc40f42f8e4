import type { Logger } from "@parley/kit/log";
import type { Safety } from "../domain/safety";

/** Experts sent per pass. */
const BATCH = 100;

/**
 * Every `intervalMs`, sends the public figures of experts whose sessions ended since the last
 * pass to the user service's expert profile (passes repeat while a batch comes back full).
 * Any number of instances may run it: experts are taken with SKIP LOCKED. Returns `stop`.
 */
export function startMetricsPublisher(safety: Safety, intervalMs: number, log: Logger): () => Promise<void> {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    try {
      while (!stopped && (await safety.publishMetrics(BATCH)) === BATCH);
    } catch (error) {
      log.warn({ err: error }, "publishing expert figures failed; retrying next pass");
    }
  };
  const timer = setInterval(() => {
    running = running.then(pass);
  }, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
