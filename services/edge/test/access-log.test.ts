import t from "tap";
import { createAccessLog } from "../src/access-log";

const collecting = () => {
  const writes: string[] = [];
  return { writes, destination: { write: (text: string) => writes.push(text) } };
};
const entry = { method: "GET", route: "/v1/me/wallet", status: 200, ms: 1.23456, requestId: "req-1" };

t.test("access lines: pino's format, one JSON line per request, written in batches", async (t) => {
  const { writes, destination } = collecting();
  const log = createAccessLog({ service: "edge", level: "info", destination });
  log.write(entry);
  log.write({ ...entry, status: 404, route: "unmatched", requestId: 'odd "id"\n' });
  t.same(writes, [], "nothing written before the batch fills or is flushed");
  log.flush();
  t.equal(writes.length, 1, "both lines in one write");
  const lines = writes[0]!.split("\n");
  t.equal(lines.pop(), "", "every line ends with a newline");
  const [first, second] = lines.map((line) => JSON.parse(line));
  t.match(first, {
    level: 30,
    service: "edge",
    name: "edge",
    method: "GET",
    route: "/v1/me/wallet",
    status: 200,
    ms: 1.23,
    requestId: "req-1",
    msg: "request",
  });
  t.ok(Number.isFinite(Date.parse(first.time)), "an ISO time");
  t.equal(second.requestId, 'odd "id"\n', "text is escaped");
  log.flush();
  t.equal(writes.length, 1, "an empty flush writes nothing");
  for (let i = 0; i < 256; i++) log.write(entry);
  t.equal(writes.length, 2, "a full batch is written at once");
  t.equal(writes[1]!.split("\n").length, 257);
});

t.test("trace ids while tracing is on", async (t) => {
  const { writes, destination } = collecting();
  const log = createAccessLog({ service: "edge", level: "debug", destination });
  log.write({ ...entry, trace: { trace_id: "a".repeat(32), span_id: "b".repeat(16) } });
  log.flush();
  t.match(JSON.parse(writes[0]!), { trace_id: "a".repeat(32), span_id: "b".repeat(16), msg: "request" });
});

t.test("no access lines above info, as pino", async (t) => {
  for (const level of ["warn", "error", "silent"]) {
    const { writes, destination } = collecting();
    const log = createAccessLog({ service: "edge", level, destination });
    log.write(entry);
    log.flush();
    t.same(writes, [], level);
  }
});
