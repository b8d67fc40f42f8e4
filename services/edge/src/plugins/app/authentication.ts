import type { Principal, TokenVerifier } from "@parley/kit/auth";
import { unauthenticated } from "@parley/kit/errors";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal;
    /** A verified bearer token, passed on as-is. */
    bearerToken?: string;
    /** A partner key, passed on for the service to verify through auth. */
    apiKey?: string;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;
/** Printable ASCII, as long as a sane key: auth's keys are far shorter. */
const API_KEY = /^[\x21-\x7e]{1,256}$/;
const ANONYMOUS: Principal = { kind: "anonymous" };

/**
 * Who is calling, before anything else runs: a bearer token is verified here (the kit's
 * verifier, with its cache) and becomes `request.principal`; a partner key is only carried
 * (auth verifies it when the service asks). A bad token is 401 at once. Every response
 * echoes the request id.
 */
export default fp(
  async (app: FastifyInstance, options: { verifier: TokenVerifier }) => {
    app.decorateRequest("principal", null as never);
    app.decorateRequest("bearerToken", undefined);
    app.decorateRequest("apiKey", undefined);
    app.addHook("onRequest", (request, reply, done) => {
      reply.header("x-request-id", request.id);
      request.principal = ANONYMOUS;
      const authorization = request.headers.authorization;
      if (authorization) {
        const match = BEARER.exec(authorization);
        if (!match) return done(unauthenticated("TOKEN_INVALID", "authorization must be 'Bearer <token>'"));
        const token = match[1]!;
        options.verifier.verify(token).then(
          (principal) => {
            request.principal = principal;
            request.bearerToken = token;
            done();
          },
          (error: Error) => done(error),
        );
        return;
      }
      const apiKey = request.headers["x-api-key"];
      // An empty header is no key (anonymous), as before keys were checked here.
      if (typeof apiKey === "string" && apiKey !== "") {
        // Not a key auth could have issued, nor one gRPC metadata can carry: refused here.
        if (!API_KEY.test(apiKey))
          return done(unauthenticated("API_KEY_INVALID", "the API key is malformed"));
        request.apiKey = apiKey;
      }
      done();
    });
  },
  { name: "authentication" },
);
