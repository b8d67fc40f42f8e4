import { invalidArgument } from "@parley/kit/errors";
import { newId } from "@parley/kit/ids";
import type { FastifyPluginAsync } from "fastify";
import type { Catalogue } from "../http/catalogue";
import { decodeResponse, encodeJson } from "../http/transcode";
import { upstreamMetadata } from "../metadata";
import { confirmPaymentRequest, SIGNATURE_HEADER, verifySignature } from "../webhooks/payments";

export interface WebhookOptions {
  catalogue: Catalogue;
  secret: string;
  toleranceSeconds: number;
  deadlineMs: number;
  /** The edge's own service token: billing accepts ConfirmPayment only from the edge. */
  credentials: () => Promise<string>;
}

const CONFIRM_PATH = "/parley.billing.v1.BillingService/ConfirmPayment";

/**
 * `POST /v1/webhooks/payments/{provider}`: a payment provider's event, signed over the exact
 * bytes sent (so this route keeps the raw body), becomes billing.ConfirmPayment called as the
 * edge. A bad or stale signature is refused before anything reaches billing.
 */
const webhookRoutes: FastifyPluginAsync<WebhookOptions> = async (app, options) => {
  const { registry } = options.catalogue;
  const confirm = registry.getService("parley.billing.v1.BillingService")!.method.confirmPayment!;
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, parsed) =>
    parsed(null, body),
  );
  app.post<{ Params: { provider: string } }>(
    "/v1/webhooks/payments/:provider",
    { config: { label: "/v1/webhooks/payments/{provider}" } },
    async (request, reply) => {
      const raw = request.body as Buffer;
      verifySignature(
        options.secret,
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
      const response = await app.upstreams.unary(
        "billing",
        CONFIRM_PATH,
        bytes,
        upstreamMetadata({
          requestId: request.id ?? newId(),
          bearerToken: await options.credentials(),
          clientIp: request.ip,
          userAgent: request.headers["user-agent"],
        }),
        options.deadlineMs,
      );
      return reply.send(decodeResponse(confirm.output, response, registry));
    },
  );
};

export default webhookRoutes;
