// Every service answers gRPC server reflection with the real descriptors: `buf curl` (a dev
// dependency) lists each service's methods and calls one RPC of each through reflection alone.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { launchTestPlatform, REPO_ROOT } from "@parley/testing";
import t from "tap";

const run = promisify(execFile);
const BUF = path.join(REPO_ROOT, "node_modules/.bin/buf");

/** `buf curl` over plaintext HTTP/2 (gRPC), the schema taken from the server's reflection. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
    timeout: 60_000,
  });
  return stdout;
}

t.test("buf curl lists and calls an RPC of every service through reflection", async (t) => {
  const { platform } = await launchTestPlatform(t);
  const url = (service: keyof typeof platform.grpc, method = "") =>
    `http://${platform.grpc[service]}${method && `/${method}`}`;

  const expected = {
    auth: "parley.auth.v1.AuthService/Register",
    user: "parley.user.v1.UserService/GetMe",
    session: "parley.session.v1.SessionService/ListSessions",
    billing: "parley.billing.v1.BillingService/GetWallet",
  } as const;
  for (const [service, method] of Object.entries(expected)) {
    const methods = (await bufCurl(["--list-methods", url(service as keyof typeof expected)])).split("\n");
    t.ok(methods.includes(method), `${service} lists ${method} (of ${methods.length - 1})`);
  }

  const registered = JSON.parse(
    await bufCurl([
      "-d",
      JSON.stringify({
        email: `reflection-${process.pid}-${Date.now()}@example.com`,
        password: "a passphrase for reflection",
        display_name: "Reflected Person",
      }),
      url("auth", expected.auth),
    ]),
  );
  const token: string = registered.tokens.accessToken;
  t.ok(token, "Register answered through reflection");
  const bearer = ["-H", `authorization: Bearer ${token}`, "-d", "{}"];
  const me = JSON.parse(await bufCurl([...bearer, url("user", expected.user)]));
  t.equal(me.profile.userId, registered.account.userId, "user.GetMe");
  const sessions = JSON.parse(await bufCurl([...bearer, url("session", expected.session)]));
  t.same(sessions, {}, "session.ListSessions: no sessions yet");
  const wallet = JSON.parse(await bufCurl([...bearer, url("billing", expected.billing)]));
  t.equal(wallet.wallet.userId, registered.account.userId, "billing.GetWallet");
});
