import { invalidArgument } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import { runTraced } from "@parley/kit/tracing";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { Catalogue } from "../http/catalogue";
import { RATE_WINDOW_MS, routeLimit } from "../http/rate-counter";
import { decodeResponse, encodeJson } from "../http/transcode";
import { upstreamMetadata } from "../metadata";
import { confirmPaymentRequest, SIGNATURE_HEADER, verifySignature } from "../webhooks/payments";

export interface WebhookOptions {
  catalogue: Catalogue;
  /** The development provider's `parley-signature` secret; its route is off without it. */
  secret: string | undefined;
  toleranceSeconds: number;
  deadlineMs: number;
  /** The edge's own service token: billing accepts webhooks only from the edge. */
  credentials: () => Promise<string>;
  /** Route limits (RATE_LIMIT_ROUTES) and the default one. */
  rates: { perMinute: number; routes: Record<string, number> };
}

/**
 * A webhook route's limit per minute and source address unless RATE_LIMIT_ROUTES names it: a
 * provider sends its bursts (several events per payment) from a few addresses.
 */
const WEBHOOK_PER_MINUTE = 6_000;

const CONFIRM_PATH = "/parley.billing.v1.BillingService/ConfirmPayment";
const RECEIVE_PATH = "/parley.billing.v1.BillingService/ReceiveProviderWebhook";

/** Headers never passed on to billing with a provider's webhook. */
const WITHHELD_HEADERS = new Set(["authorization", "cookie", "proxy-authorization"]);

/**
 * Payment providers' webhooks, signed over the exact bytes sent (so these routes keep the raw
 * body):
 * - `POST /v1/webhooks/{provider}` (stripe, razorpay): the bytes and headers go to
 *   billing.ReceiveProviderWebhook as they came; billing's adapter checks the provider's own
 *   signature format and maps the event (the edge holds no provider secret).
 * - `POST /v1/webhooks/payments/{provider}` (the development provider, when WEBHOOK_SECRET is
 *   set): the `parley-signature` is checked here and the event becomes billing.ConfirmPayment.
 * Both call billing as the edge.
 */
const webhookRoutes: FastifyPluginAsync<WebhookOptions> = async (app, options) => {
  const { registry } = options.catalogue;
  const billing = registry.getService("parley.billing.v1.BillingService")!;
  const confirm = billing.method.confirmPayment!;
  const receive = billing.method.receiveProviderWebhook!;
  for (const type of ["application/json", "application/x-www-form-urlencoded", "text/plain"])
    app.addContentTypeParser(type, { parseAs: "buffer" }, (_request, body, parsed) => parsed(null, body));
  // Each route its own counters and limit, not the shared default of routes without settings.
  const rateLimit = (template: string) => ({
    max: routeLimit(
      { verb: "POST", template },
      { perMinute: Math.max(WEBHOOK_PER_MINUTE, options.rates.perMinute), routes: options.rates.routes },
    ),
    timeWindow: RATE_WINDOW_MS,
  });
  const metadata = async (request: FastifyRequest) =>
    upstreamMetadata({
      requestId: request.id ?? newId(),
      bearerToken: await options.credentials(),
      clientIp: request.ip,
      userAgent: request.headers["user-agent"],
    });

  app.post<{ Params: { provider: string } }>(
    "/v1/webhooks/:provider",
    { config: { label: "/v1/webhooks/{provider}", rateLimit: rateLimit("/v1/webhooks/{provider}") } },
    async (request, reply) => {
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const headers = Object.fromEntries(
        Object.entries(request.headers)
          .filter(([name, value]) => typeof value === "string" && !WITHHELD_HEADERS.has(name))
          .map(([name, value]) => [name, value as string]),
      );
      const bytes = encodeJson(
        receive.input,
        { provider: request.params.provider, payload: raw.toString("base64"), headers },
        registry,
      );
      const upstream = await metadata(request);
      const response = await runTraced(request.trace, () =>
        app.upstreams.unary("billing", RECEIVE_PATH, bytes, upstream, options.deadlineMs),
      );
      return reply.send(decodeResponse(receive.output, response, registry));
    },
  );

  if (!options.secret) return;
  const secret = options.secret;
  app.post<{ Params: { provider: string } }>(
    "/v1/webhooks/payments/:provider",
    {
      config: {
        label: "/v1/webhooks/payments/{provider}",
        rateLimit: rateLimit("/v1/webhooks/payments/{provider}"),
      },
    },
    async (request, reply) => {
      // No body at all (no content type either) parses to nothing: signed as empty.
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      verifySignature(
        secret,
        request.headers[SIGNATURE_HEADER] as string | undefined,
        raw,
        options.toleranceSeconds,
      );
      let event: unknown;
      try {
        event = JSON.parse(raw.toString("utf8"));
      } catch {
        throw invalidArgument("INVALID_BODY", "the body is not JSON");
      }
      const bytes = encodeJson(
        confirm.input,
        confirmPaymentRequest(request.params.provider, event) as never,
        registry,
      );
      const headers = await metadata(request);
      const response = await runTraced(request.trace, () =>
        app.upstreams.unary("billing", CONFIRM_PATH, bytes, headers, options.deadlineMs),
      );
      return reply.send(decodeResponse(confirm.output, response, registry));
    },
  );
};

export default webhookRoutes;
