import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import helmet, { type HelmetOptions } from "helmet";

/** Helmet's defaults, with what the docs page needs: its own bootstrap script and data: images. */
const OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: { "script-src": ["'self'", "'unsafe-inline'"], "img-src": ["'self'", "data:"] },
  },
};

/**
 * The security headers helmet sets, computed once: the policy is the same for every response,
 * so rebuilding the Content-Security-Policy per request (what helmet's middleware does) is
 * work for nothing. Each response gets the precomputed set.
 */
export function securityHeaders(options: HelmetOptions = OPTIONS): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failed: unknown;
  helmet(options)({} as never, response as never, (error?: unknown) => {
    failed = error;
  });
  if (failed) throw failed;
  return headers;
}

export default fp(
  async (app: FastifyInstance) => {
    const headers = securityHeaders();
    app.addHook("onRequest", (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
  },
  { name: "security-headers" },
);
