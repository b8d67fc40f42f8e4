import type { Logger } from "@parley/kit/log";

/** TOTP secrets resealed per statement pair. */
const BATCH = 200;

/**
 * After SIGNING_KEY_SECRET rotated (SIGNING_KEY_SECRET_PREVIOUS set), moves what a previous
 * secret sealed under the current one, once at start, in the background: TOTP secrets here (signing keys rotate in keys.maintain();
 * a refresh pair's seal lives only through its retry window). Stops early when `stopped()`.
 */
export async function resealAtStart(deps: {
  resealTotpSecrets: (limit: number) => Promise<number>;
  log: Logger;
  stopped: () => boolean;
}): Promise<void> {
  let total = 0;
  try {
    while (!deps.stopped()) {
      const resealed = await deps.resealTotpSecrets(BATCH);
      if (resealed === 0) break;
      total += resealed;
    }
    if (total > 0)
      deps.log.info({ resealed: total }, "TOTP secrets resealed under the current SIGNING_KEY_SECRET");
  } catch (error) {
    deps.log.error({ err: error, resealed: total }, "resealing TOTP secrets failed; the next start resumes");
  }
}
