import { createRequire } from "node:module";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import t from "tap";
import { CLIENT_FRAMES, RPC_FRAMES, SERVER_FRAMES } from "../src/ws/protocol";
import { startLoneEdge } from "./alone";

// biome-ignore lint/suspicious/noExplicitAny: documents are asserted field by field
type Doc = any;

t.test("the API documents a partner works from", async (t) => {
  const { url } = await startLoneEdge(t);
  const get = async (path: string) => {
    const response = await fetch(url + path, { redirect: "manual" });
    return {
      status: response.status,
      location: response.headers.get("location"),
      text: await response.text(),
    };
  };
  const openapi = JSON.parse((await get("/openapi.json")).text) as Doc;
  const op = (method: string, path: string) => openapi.paths[path][method];

  await t.test("OpenAPI 3.1, valid, with Parley's own title, served at one URL", async (t) => {
    const validation = await new Validator().validate(openapi);
    t.ok(validation.valid, JSON.stringify(validation.errors ?? []).slice(0, 500));
    t.equal(openapi.info.title, "Parley API");
    t.match(openapi.info.description, /consultations/);
    t.match(openapi.info.description, /\(\/asyncapi\.json\)/, "the docs page links the WebSocket protocol");
    for (const path of ["/docs/json", "/docs/yaml"]) {
      const response = await get(path);
      t.equal(response.status, 308, `${path} is not a second copy`);
      t.equal(response.location, "/openapi.json");
    }
    t.match((await get("/docs/")).text, /swagger/i);
  });

  await t.test("summaries are whole first sentences; the rest is the description", async (t) => {
    t.equal(
      op("post", "/v1/auth/register").summary,
      "Creates an account with an email and/or a phone number and a password, and signs it in",
    );
    t.equal(op("post", "/v1/auth/login").summary, "Signs in with an email or phone number and a password");
    t.match(op("post", "/v1/auth/login").description, /^Returns tokens, or an MFA challenge/);
    for (const [path, methods] of Object.entries<Doc>(openapi.paths))
      for (const [method, operation] of Object.entries<Doc>(methods)) {
        t.notMatch(operation.summary, /\n/, `${method} ${path}: one line`);
        t.notMatch(operation.description, /Errors:/, `${method} ${path}: errors are responses, not text`);
      }
  });

  await t.test("required fields, enums without UNSPECIFIED where required, int64 as strings", async (t) => {
    const login = op("post", "/v1/auth/login").requestBody.content["application/json"].schema;
    t.same(login.required, ["identifier", "password"]);
    const request = op("post", "/v1/sessions").requestBody.content["application/json"].schema;
    t.same(request.required, ["expert_id", "kind", "request_id"]);
    t.same(
      request.properties.kind.enum,
      ["SESSION_KIND_CHAT", "SESSION_KIND_CALL"],
      "Try it out cannot pick UNSPECIFIED",
    );
    t.equal(request.properties.kind.example, "SESSION_KIND_CHAT");
    t.match(request.properties.expert_id, { type: "string", format: "uuid" });
    const money = openapi.components.schemas["parley.common.v1.Money"].properties.amount_minor;
    t.match(money, { type: "string", format: "int64", example: "50000" });
    const session = openapi.components.schemas["parley.session.v1.Session"].properties;
    t.match(session.requested_at, { type: "string", format: "date-time" }, "timestamps are date-time");
    t.match(session.minutes_charged, { type: "string", format: "int64", pattern: "^-?[0-9]{1,19}$" });
    const accept = op("post", "/v1/sessions/{session_id}:accept");
    t.match(accept.parameters[0], {
      name: "session_id",
      in: "path",
      required: true,
      schema: { format: "uuid" },
    });
    t.notOk(
      accept.requestBody.content["application/json"].schema.properties.session_id,
      "a field the path sets is not asked for again in the body",
    );
  });

  await t.test("security per operation, from the permission maps", async (t) => {
    for (const [method, path] of [
      ["post", "/v1/auth/register"],
      ["post", "/v1/auth/login"],
      ["get", "/v1/experts"],
      ["get", "/v1/experts/{expert_id}"],
    ])
      t.same(op(method!, path!).security, [], `${method} ${path}: anyone`);
    t.same(op("get", "/v1/me").security, [{ bearer: [] }]);
    t.same(op("post", "/v1/partner/users:sync").security, [{ apiKey: [] }]);
    t.same(op("get", "/v1/users/{user_id}").security, [{ bearer: [] }, { apiKey: [] }]);
  });

  await t.test("each documented error reason is a response with the envelope", async (t) => {
    const responses = op("post", "/v1/sessions").responses;
    const reasons = (status: string) =>
      responses[status].content["application/json"].schema.allOf[1].properties.error.properties.reason.enum;
    t.same(responses["400"].content["application/json"].schema.allOf[0], {
      $ref: "#/components/schemas/Error",
    });
    t.ok(reasons("400").includes("INSUFFICIENT_FUNDS") && reasons("400").includes("INVALID_BODY"));
    t.ok(reasons("409").includes("OPEN_REQUEST_EXISTS") && reasons("409").includes("IDEMPOTENCY_KEY_REUSED"));
    t.same(reasons("404"), ["EXPERT_NOT_FOUND"]);
    t.ok(reasons("401").includes("TOKEN_INVALID"));
    t.same(reasons("429"), ["RATE_LIMITED"]);
    t.match(
      responses["400"].description,
      /`INSUFFICIENT_FUNDS` \(FAILED_PRECONDITION\): metadata shortfall_minor/,
    );
    t.equal(
      responses["400"].content["application/json"].examples.INSUFFICIENT_FUNDS.value.error.reason,
      "INSUFFICIENT_FUNDS",
    );
    t.notOk(
      op("post", "/v1/auth/login").responses["401"]?.content[
        "application/json"
      ].schema.allOf[1].properties.error.properties.reason.enum.includes("TOKEN_INVALID"),
      "anonymous operations list no token errors",
    );
  });

  await t.test("tags by resource", async (t) => {
    t.same(
      openapi.tags.map((tag: { name: string }) => tag.name),
      ["Auth", "Account", "Experts", "Sessions", "Chat", "Wallet", "Invoices", "Partner", "Admin"],
    );
    for (const [method, path, tag] of [
      ["post", "/v1/users/{user_id}/role", "Admin"],
      ["post", "/v1/auth/login", "Auth"],
      ["get", "/v1/me", "Account"],
      ["get", "/v1/experts", "Experts"],
      ["post", "/v1/sessions/{session_id}:accept", "Sessions"],
      ["post", "/v1/sessions/{session_id}/messages", "Chat"],
      ["get", "/v1/me/wallet", "Wallet"],
      ["get", "/v1/invoices/{invoice_id}", "Invoices"],
      ["post", "/v1/partner/users:sync", "Partner"],
      ["post", "/v1/refunds", "Admin"],
    ])
      t.same(op(method!, path!).tags, [tag], `${method} ${path}`);
    const used = new Set(
      Object.values<Doc>(openapi.paths).flatMap((methods) =>
        Object.values<Doc>(methods).flatMap((o) => o.tags),
      ),
    );
    t.same(
      [...used].sort(),
      openapi.tags.map((tag: { name: string }) => tag.name).sort(),
      "every tag is used",
    );
  });

  await t.test("AsyncAPI 3.0 of the WebSocket protocol, from the protocol's own schemas", async (t) => {
    const asyncapi = JSON.parse((await get("/asyncapi.json")).text) as Doc;
    const require = createRequire(import.meta.url);
    const specs = require("@asyncapi/specs") as { schemas: Record<string, object> };
    // The specification bundles the draft-07 meta-schema itself.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats.default(ajv);
    const validate = ajv.compile(specs.schemas["3.0.0"]!);
    t.ok(validate(asyncapi), JSON.stringify(validate.errors?.slice(0, 3)));
    t.equal(asyncapi.asyncapi, "3.0.0");
    t.equal(asyncapi.channels.ws.address, "/v1/ws");
    const messages = asyncapi.channels.ws.messages;
    t.same(
      Object.keys(messages).sort(),
      [...Object.keys(CLIENT_FRAMES), ...Object.keys(RPC_FRAMES), ...Object.keys(SERVER_FRAMES)].sort(),
      "every frame the protocol defines, and nothing else",
    );
    t.same(
      messages.subscribe.payload,
      JSON.parse(JSON.stringify(CLIENT_FRAMES.subscribe)),
      "the very schema frames are validated with",
    );
    t.ok(
      messages.send_message.payload.required.includes("client_msg_id"),
      "RPC frames carry their request's required fields",
    );
    t.same(messages.event.payload.properties.event, {
      $ref: "#/components/schemas/parley.session.v1.SessionEvent",
    });
    t.ok(
      asyncapi.components.schemas["parley.session.v1.SessionEvent"],
      "the event's schema is the protobuf message's",
    );
    t.match(asyncapi.operations.receive_ping.reply.messages, [{ $ref: "#/channels/ws/messages/pong" }]);
    t.match(asyncapi.info.description, /\*\*4029\*\*/, "close codes are documented");
  });
});
