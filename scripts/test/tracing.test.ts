// Distributed tracing across the platform: every service exports OTLP to an in-process receiver,
// and one `POST /v1/sessions` is one trace from the edge through session to user and billing (and
// on into the notification its outbox delivers); a metered minute is a trace from session's
// metering to billing's ChargeBatch; the services' log lines inside a trace carry its id.
import { randomUUID } from "node:crypto";
import {
  launchTestPlatform,
  type ReceivedSpan,
  SERVICES,
  SPAN_KIND,
  startOtlpReceiver,
} from "@parley/testing";
import t from "tap";
import { world } from "./world";

t.setTimeout(150_000);

t.test("one trace spans edge → session → user and billing for POST /v1/sessions", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const lines: Array<{ service: string; line: string }> = [];
  const tracing = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  };
  const { platform, secrets } = await launchTestPlatform(
    t,
    {
      ...Object.fromEntries(SERVICES.map((name) => [name, tracing])),
      session: { ...tracing, LOG_LEVEL: "debug", MINUTE_SECONDS: "2" },
      auth: { ...tracing, OUTBOX_INTERVAL_MS: "200" },
    },
    { onLine: (service, line) => lines.push({ service, line }) },
  );
  const w = world(t, platform, secrets);
  const expert = await w.expert(1000);
  const user = await w.register();
  await w.fund(user.userId, 100_000);

  const requestId = randomUUID();
  const requested = await w.call("POST", "/v1/sessions", {
    token: user.token,
    headers: { "x-request-id": requestId },
    body: { expert_id: expert.userId, kind: "SESSION_KIND_CHAT", request_id: randomUUID() },
  });
  t.equal(requested.status, 200, "the session is requested");
  const sessionId: string = requested.body.session.session_id;

  // The edge's span for the request, by its request id.
  const [edgeSpan] = (
    await receiver.waitFor((spans) =>
      spans.some((s) => s.service === "edge" && s.attributes["parley.request_id"] === requestId),
    )
  ).filter((s) => s.service === "edge" && s.attributes["parley.request_id"] === requestId);
  t.ok(edgeSpan, "the edge made a span for the request");
  t.equal(edgeSpan!.name, "POST /v1/sessions", "named by method and route template");
  t.equal(edgeSpan!.kind, SPAN_KIND.server);
  t.equal(edgeSpan!.parentSpanId, "", "the edge's span is the trace's root");
  t.equal(edgeSpan!.attributes["http.response.status_code"], 200);
  const traceId = edgeSpan!.traceId;

  const find = (spans: ReceivedSpan[], service: string, kind: number, name: RegExp) =>
    spans.find((s) => s.traceId === traceId && s.service === service && s.kind === kind && name.test(s.name));
  /** The user server span called by the outbox delivery (each service exports on its own schedule). */
  const deliveredToUser = (spans: ReceivedSpan[]) => {
    const delivery = find(spans, "session", SPAN_KIND.consumer, /notification_outbox deliver$/);
    const clients = new Set(
      spans.filter((s) => delivery && s.parentSpanId === delivery.spanId).map((s) => s.spanId),
    );
    return spans.some((s) => s.service === "user" && clients.has(s.parentSpanId));
  };
  const spans = await receiver.waitFor((spans) =>
    Boolean(
      find(spans, "session", SPAN_KIND.server, /SessionService\/RequestSession$/) &&
        find(spans, "user", SPAN_KIND.server, /UserService\//) &&
        find(spans, "billing", SPAN_KIND.server, /BillingService\//) &&
        deliveredToUser(spans.filter((s) => s.traceId === traceId)),
    ),
  );
  const trace = spans.filter((s) => s.traceId === traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const parentOf = (span: ReceivedSpan) => byId.get(span.parentSpanId);

  // edge SERVER → edge CLIENT → session SERVER, by parent ids.
  const sessionServer = find(trace, "session", SPAN_KIND.server, /SessionService\/RequestSession$/)!;
  const edgeClient = parentOf(sessionServer);
  t.equal(edgeClient?.service, "edge", "session's span is a child of the edge's call");
  t.equal(edgeClient?.kind, SPAN_KIND.client);
  t.equal(edgeClient?.name, "parley.session.v1.SessionService/RequestSession");
  t.equal(edgeClient?.parentSpanId, edgeSpan!.spanId, "which is a child of the edge's request span");
  t.equal(sessionServer.attributes["parley.request_id"], requestId, "the request id is an attribute");
  t.equal(sessionServer.attributes["rpc.grpc.status_code"], 0);

  // session → user and session → billing, each through one of session's CLIENT spans.
  for (const service of ["user", "billing"]) {
    const servers = trace.filter((s) => s.service === service && s.kind === SPAN_KIND.server);
    t.ok(
      servers.length > 0,
      `${service} served part of the request: ${servers.map((s) => s.name).join(", ")}`,
    );
    // Called while session served the request (not later, by its outbox).
    const viaSession = servers.filter((s) => {
      const client = parentOf(s);
      return (
        client?.service === "session" &&
        client.kind === SPAN_KIND.client &&
        client.name === s.name &&
        client.parentSpanId === sessionServer.spanId
      );
    });
    t.ok(viaSession.length > 0, `${service}'s span is a child of session's call to it`);
    t.ok(
      viaSession.every((s) => s.attributes["parley.request_id"] === requestId),
      `the request id reaches ${service}`,
    );
  }
  const hold = find(trace, "billing", SPAN_KIND.server, /BillingService\/(PlaceHold|Hold)/);
  t.ok(hold, `billing placed the hold in this trace (${hold?.name})`);

  // Database work inside the trace: Postgres spans under the services' server spans.
  const queries = trace.filter((s) => s.attributes["db.system.name"] === "postgresql");
  t.ok(
    ["session", "billing"].every((service) => queries.some((q) => q.service === service)),
    "session's and billing's queries are spans of the trace",
  );
  t.ok(
    queries.every((q) => typeof q.attributes["db.query.text"] === "string" && !("db.query.parameter" in q)),
    "statements recorded, never their values",
  );

  // Outbox-driven work: the expert's "request waiting" notice, delivered after commit, is in the trace.
  t.ok(deliveredToUser(trace), "the outbox delivery calls user within the same trace");

  // Logs: a line session wrote while serving the call carries the trace and span ids.
  const logged = lines
    .filter((l) => l.service === "session" && l.line.includes(traceId))
    .map((l) => JSON.parse(l.line) as { trace_id?: string; span_id?: string; requestId?: string });
  t.ok(
    logged.some(
      (l) => l.trace_id === traceId && l.span_id === sessionServer.spanId && l.requestId === requestId,
    ),
    "session's log line for the call carries trace_id and span_id",
  );

  // Auth's own outbox: the reset link, sent after commit by auth's relay, is in the request's trace.
  const resetId = randomUUID();
  const reset = await w.call("POST", "/v1/auth/password:requestReset", {
    headers: { "x-request-id": resetId },
    body: { identifier: user.email },
  });
  t.equal(reset.status, 200, "a password reset is requested");
  const resetDelivery = (spans: ReceivedSpan[]) => {
    const root = spans.find((s) => s.service === "edge" && s.attributes["parley.request_id"] === resetId);
    return spans.find(
      (s) => s.traceId === root?.traceId && s.service === "auth" && s.name === "auth.outbox deliver",
    );
  };
  const authDelivery = resetDelivery(await receiver.waitFor((spans) => Boolean(resetDelivery(spans))))!;
  t.equal(authDelivery.kind, SPAN_KIND.consumer, "auth's outbox delivery continues the request's trace");
  t.equal(authDelivery.statusCode, 0, "and succeeded");

  // Metering: the expert accepts, and a charged minute is a trace from session's metering to billing.
  const accepted = await w.call("POST", `/v1/sessions/${sessionId}:accept`, {
    token: expert.token,
    body: {},
  });
  t.equal(accepted.status, 200, "the expert accepts");
  const metered = await receiver.waitFor((spans) =>
    spans.some(
      (s) =>
        s.service === "billing" &&
        /ChargeBatch$/.test(s.name) &&
        spans.some(
          (m) => m.traceId === s.traceId && m.service === "session" && m.name === "session.metering",
        ),
    ),
  );
  const charge = metered.find(
    (s) =>
      s.service === "billing" &&
      /ChargeBatch$/.test(s.name) &&
      metered.some((m) => m.traceId === s.traceId && m.name === "session.metering"),
  )!;
  const meteringSpan = metered.find((m) => m.traceId === charge.traceId && m.name === "session.metering")!;
  t.equal(meteringSpan.parentSpanId, "", "a metered chunk is a trace of its own");
  t.equal(
    metered.find((s) => s.spanId === charge.parentSpanId)?.parentSpanId,
    meteringSpan.spanId,
    "billing's ChargeBatch is a child of session's call within the metering span",
  );
  await w.call("POST", `/v1/sessions/${sessionId}:end`, { token: user.token, body: {} });
});
