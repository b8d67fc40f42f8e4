// Tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT): nothing starts and every helper is a pass-through.
// The platform-wide behaviour with tracing on is scripts/test/tracing.test.ts.
import t from "tap";
import {
  startGrpcClientSpan,
  startOutboxSpan,
  startSpan,
  startTracing,
  TRACE_FIELD,
  traceFields,
  tracingConfigured,
  tracingEnabled,
  withTraceContext,
} from "../src/tracing";

t.test("tracing is off and free without an OTLP endpoint", async (t) => {
  t.notOk(tracingConfigured({}), "no endpoint, no tracing");
  t.notOk(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://x", OTEL_SDK_DISABLED: "true" }));
  t.ok(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://x/v1/traces" }));
  t.equal(await startTracing("test", {}), false, "startTracing does not start the SDK");
  t.notOk(tracingEnabled());
  t.equal(startSpan("x"), undefined, "no spans are made");
  const headers: Record<string, string> = {};
  t.equal(
    startGrpcClientSpan("/a.B/C", (key, value) => {
      headers[key] = value;
    }),
    undefined,
  );
  t.same(headers, {}, "nothing is added to outgoing metadata");
  const payload = { kind: "x" };
  t.equal(withTraceContext(payload), payload, "outbox payloads are stored as they are");
  t.same(traceFields(), {}, "log lines get no trace fields");
  const carried = {
    kind: "x",
    [TRACE_FIELD]: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  };
  t.equal(
    startOutboxSpan("t", carried),
    undefined,
    "a row written with tracing on is delivered without a span",
  );
  t.same(carried, { kind: "x" }, "and without the trace field");
});
