import type { Logger } from "../log";
import { stopTracing } from "../tracing";

/**
 * Entry points call this once the service serves. SIGTERM or SIGINT runs `stop` (drain, then
 * close pools) and exits 0, or 1 if stopping failed; a second signal exits at once.
 *
 * From then on a promise rejected with nobody waiting for it is logged (error level) instead of
 * ending the process: such a rejection belongs to work its caller already gave up on (a query
 * on a connection the database dropped, a pipelined statement after its transaction failed),
 * and taking every other call down with it would turn a lost connection into an outage.
 * Thrown exceptions still end the process: after one, its state is unknown.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down");
    stop().then(
      // The spans still buffered are exported before the process ends (a no-op when tracing is off).
      () => stopTracing().finally(() => process.exit(0)),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("unhandledRejection", (reason) => {
    log.error({ err: reason }, "a promise was rejected with nobody waiting for it; carrying on");
  });
}
