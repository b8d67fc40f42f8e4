import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { invalidArgument, notFound, unauthenticated } from "@parley/kit/errors";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { securityHeaders } from "../plugins/external/helmet";
import { signPayload } from "../webhooks/payments";

export interface ConsoleOptions {
  /** The console's build (packages/console/dist); found beside the sources or the bundle when absent. */
  dir: string | undefined;
  /** The demo accounts `pnpm start` seeds, offered as one-click sign-ins (JSON); none when absent. */
  demoAccounts: string | undefined;
  /** Stand in for the development payment provider's checkout (development only). */
  developmentCheckout: boolean;
  webhookSecret: string | undefined;
  /** NODE_ENV=production: no demo accounts, no development checkout (404), whatever is configured. */
  production?: boolean;
}

/** The demo accounts offered, never an admin (one click must not sign anyone in as staff with every right). */
export function offeredDemoAccounts(json: string | undefined): string {
  if (!json) return "[]";
  const accounts = JSON.parse(json) as Array<{ role?: unknown }>;
  return JSON.stringify(
    accounts.filter((account) => !/^(role_)?admin$/i.test(String(account?.role ?? "").trim())),
  );
}

/**
 * The console's policy: its own scripts, styles and connections only (WebSocket to this
 * origin included: CSP3's 'self' covers ws: and wss: of the same host), no inline script or
 * style, no framing, no plugins. Stricter than the API's (whose docs page needs inline script).
 */
export const CONSOLE_HEADERS = securityHeaders({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      "default-src": ["'self'"],
      "script-src": ["'self'"],
      "style-src": ["'self'"],
      "img-src": ["'self'", "data:"],
      "font-src": ["'self'"],
      "connect-src": ["'self'"],
      "object-src": ["'none'"],
      "base-uri": ["'self'"],
      "form-action": ["'self'"],
      "frame-ancestors": ["'none'"],
    },
  },
});

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
};

/**
 * Where the build is: the given folder; else `console/` beside the bundle's folder (the image
 * lays it out so: /app/dist/main.js, /app/console), or packages/console/dist seen from the sources
 * or from the bundle inside the workspace.
 */
function consoleDir(given: string | undefined): string | undefined {
  const candidates = given
    ? [path.resolve(given)] // absolute, no trailing slash: the containment check compares prefixes
    : [
        path.resolve(import.meta.dirname, "../console"), // <deployed edge>/dist → <deployed edge>/console
        path.resolve(import.meta.dirname, "../../../../packages/console/dist"), // services/edge/src/routes
        path.resolve(import.meta.dirname, "../../../packages/console/dist"), // services/edge/dist
      ];
  return candidates.find((dir) => existsSync(path.join(dir, "index.html")));
}

/**
 * The web console (packages/console) at /console/: its files from the build folder (found at
 * the first request, so a console built after the edge started is served), hashed assets cached
 * for good, the page itself never; the demo accounts `pnpm start` seeds; and, only where
 * CONSOLE_DEVELOPMENT_CHECKOUT is set, the development payment provider's checkout, which sends
 * the provider's signed webhook to this edge's own webhook route (so a top-up made in the
 * console is paid the way the provider would pay it).
 */
const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  let dir: string | undefined;
  const withHeaders = (reply: FastifyReply) => reply.headers(CONSOLE_HEADERS);

  app.get("/console", { config: { rateLimit: false } }, async (_request, reply) =>
    withHeaders(reply).redirect("/console/"),
  );

  const demoAccounts = offeredDemoAccounts(options.demoAccounts);
  app.get("/console/demo-accounts.json", async (_request, reply) => {
    if (options.production) throw notFound("NOT_FOUND", "there are no demo accounts in production");
    return withHeaders(reply).header("cache-control", "no-store").type(TYPES[".json"]!).send(demoAccounts);
  });

  app.get<{ Params: { "*": string } }>(
    "/console/*",
    { config: { rateLimit: false } },
    async (request, reply) => {
      dir ??= consoleDir(options.dir);
      withHeaders(reply);
      if (!dir)
        return reply
          .code(404)
          .type("text/plain; charset=utf-8")
          .send("The console is not built: run `pnpm build` (or `pnpm start`, which builds it).\n");
      const wanted = request.params["*"] || "index.html";
      const file = path.resolve(dir, wanted);
      if (!file.startsWith(`${dir}${path.sep}`) || path.basename(file).startsWith("."))
        return reply.code(404).type("text/plain; charset=utf-8").send("Not found\n");
      const type = TYPES[path.extname(file)];
      const body = type ? await readFile(file).catch(() => undefined) : undefined;
      if (!body) {
        if (wanted.startsWith("assets/") || path.extname(wanted) !== "")
          return reply.code(404).type("text/plain; charset=utf-8").send("Not found\n");
        // Any other path is the page (the console routes by the URL's hash, but a deep link works too).
        return reply
          .type(TYPES[".html"]!)
          .header("cache-control", "no-cache")
          .send(await readFile(path.join(dir, "index.html")));
      }
      return reply
        .type(type!)
        .header(
          "cache-control",
          wanted.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache",
        )
        .send(body);
    },
  );

  app.post<{ Body: { payment_id?: unknown; amount_minor?: unknown; currency?: unknown } }>(
    "/console/development-checkout",
    async (request, reply) => {
      if (!options.developmentCheckout || !options.webhookSecret || options.production)
        throw notFound("NOT_FOUND", "the development checkout is not enabled on this edge");
      if (request.principal?.kind !== "user") throw unauthenticated("UNAUTHENTICATED", "sign in first");
      const { payment_id, amount_minor, currency } = request.body ?? {};
      if (typeof payment_id !== "string" || typeof amount_minor !== "string" || typeof currency !== "string")
        throw invalidArgument("INVALID_BODY", "payment_id, amount_minor and currency are required strings");
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(payment_id))
        throw invalidArgument("INVALID_BODY", "payment_id must be a UUID");
      // Only the caller's own payment: billing's VerifyTopUp, asked with the caller's token,
      // answers PAYMENT_NOT_FOUND for anyone else's and PROVIDER_NOT_SUPPORTED for their own
      // development payment (confirmed by webhook), before looking at the proof.
      const owner = await app.inject({
        method: "POST",
        url: `/v1/me/topups/${payment_id}:verify`,
        headers: {
          "content-type": "application/json",
          authorization: request.headers.authorization ?? "",
          "x-request-id": request.id,
        },
        payload: JSON.stringify({ provider_payment_id: "console", signature: "console" }),
      });
      const ownerReason = (JSON.parse(owner.body) as { error?: { reason?: string } }).error?.reason;
      if (ownerReason !== "PROVIDER_NOT_SUPPORTED")
        throw notFound("PAYMENT_NOT_FOUND", "no development payment of yours has this id");
      const raw = JSON.stringify({
        event_id: `console_${payment_id}`,
        payment_id,
        provider_payment_id: `dev_${payment_id}`,
        status: "succeeded",
        amount_minor: Number(amount_minor),
        currency,
      });
      const answer = await app.inject({
        method: "POST",
        url: "/v1/webhooks/payments/development",
        headers: {
          "content-type": "application/json",
          "parley-signature": signPayload(options.webhookSecret, Math.floor(Date.now() / 1000), raw),
          "x-request-id": request.id,
        },
        payload: raw,
      });
      return reply.code(answer.statusCode).type(TYPES[".json"]!).send(answer.body);
    },
  );
};

export default consoleRoutes;
