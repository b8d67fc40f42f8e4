import type { Catalogue } from "../http/catalogue";
import { documentedSchemas } from "../http/openapi";
import type { Schema } from "../http/schemas";
import { CLIENT_FRAMES, CLOSE_CODES, RPC_FRAMES, SERVER_FRAMES } from "./protocol";

const CHANNEL = "#/channels/ws";

/** What answers each client frame (AsyncAPI request/reply). */
const REPLIES: Record<string, string[]> = {
  auth: ["ready", "error"],
  subscribe: ["subscribed", "error"],
  watch_me: ["watching", "error"],
  ping: ["pong"],
  ...Object.fromEntries(Object.keys(RPC_FRAMES).map((type) => [type, ["ack", "error"]])),
};

/** TypeBox schemas carry symbol keys only; a JSON round trip leaves the JSON Schema. */
const plain = (schema: unknown): Schema => JSON.parse(JSON.stringify(schema)) as Schema;

/**
 * The AsyncAPI 3.0 document of /v1/ws, generated from the protocol's own schemas
 * (ws/protocol.ts, which also type and validate the frames) and, for frames that carry
 * protobuf messages, the same descriptor-derived schemas as the OpenAPI document. The
 * application described is the edge: it receives client frames and sends server frames.
 */
export function buildAsyncApi(catalogue: Catalogue): Schema {
  const { schemas, builder, mode } = documentedSchemas(catalogue);
  const session = catalogue.registry.getService("parley.session.v1.SessionService")!;
  const messages: Record<string, Schema> = {};
  for (const [type, schema] of Object.entries(CLIENT_FRAMES)) {
    const payload = plain(schema);
    messages[type] = { name: type, title: type, summary: payload.description, payload };
  }
  for (const [type, spec] of Object.entries(RPC_FRAMES)) {
    const input = session.methods.find((m) => m.name === spec.rpc)!.input;
    const request = builder.message(input, mode);
    messages[type] = {
      name: type,
      title: type,
      summary: spec.description,
      payload: {
        type: "object",
        description: `${spec.description} The frame carries ${input.typeName}'s fields.`,
        required: ["type", ...((request.required as string[] | undefined) ?? [])],
        properties: {
          type: { const: type },
          id: plain(CLIENT_FRAMES.ping.properties.id),
          ...(request.properties as Schema),
        },
        additionalProperties: false,
      },
    };
  }
  // Server frames referring to protobuf messages pull them into the components.
  mode.ref(catalogue.registry.getMessage("parley.session.v1.SessionEvent")!);
  mode.ref(catalogue.registry.getMessage("parley.user.v1.Notification")!);
  for (const [type, schema] of Object.entries(SERVER_FRAMES)) {
    const payload = plain(schema);
    messages[type] = { name: type, title: type, summary: payload.description, payload };
  }
  const ref = (type: string) => ({ $ref: `${CHANNEL}/messages/${type}` });
  const operations: Record<string, Schema> = {};
  for (const type of [...Object.keys(CLIENT_FRAMES), ...Object.keys(RPC_FRAMES)]) {
    operations[`receive_${type}`] = {
      action: "receive",
      channel: { $ref: CHANNEL },
      summary: messages[type]!.summary,
      messages: [ref(type)],
      ...(REPLIES[type] ? { reply: { channel: { $ref: CHANNEL }, messages: REPLIES[type]!.map(ref) } } : {}),
    };
  }
  for (const type of ["ready", "subscribed", "event", "watching", "notification", "ack", "pong", "error"]) {
    operations[`send_${type}`] = {
      action: "send",
      channel: { $ref: CHANNEL },
      summary: messages[type]!.summary,
      messages: [ref(type)],
    };
  }
  const closeCodes = Object.values(CLOSE_CODES)
    .map((c) => `- **${c.code}**: ${c.description}`)
    .join("\n");
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Parley realtime API",
      version: "1.0.0",
      description: [
        "Parley's WebSocket at `/v1/ws`: live session events (chat, receipts, status, per-minute charges, call signals), chat and receipts without an HTTP round trip, and presence. JSON text frames, one object each, with a `type`.",
        "",
        "Open the socket, send `auth` with an access token within 10 s, then `subscribe` to sessions. To resume after a drop, reconnect, `auth`, and `subscribe` with the highest `seq` seen: stored events replay without gap or duplicate (ephemeral ones carry seq 0).",
        "",
        "Your own channel: send `watch_me` (with the highest notification `seq` seen, to resume) and receive `notification` frames — everything addressed to you (for an expert, a request joined your queue within a second of it being made), stored in your inbox (`GET /v1/me/notifications`) first, replayed without gap or duplicate.",
        "",
        "Close codes:",
        closeCodes,
        "",
        "The HTTP API is documented at [/docs](/docs) ([/openapi.json](/openapi.json)).",
      ].join("\n"),
    },
    defaultContentType: "application/json",
    channels: {
      ws: {
        address: "/v1/ws",
        title: "Parley realtime connection",
        messages: Object.fromEntries(Object.entries(messages).map(([type, message]) => [type, message])),
      },
    },
    operations,
    components: { schemas },
  };
}
