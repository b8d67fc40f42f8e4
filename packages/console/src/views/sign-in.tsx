import { useEffect, useState } from "preact/hooks";
import { anonymous, must, type Schemas, session } from "../api/client";
import { ErrorLine, useAction } from "./parts";

interface DemoAccount {
  name: string;
  email: string;
  password: string;
  role: string;
}

/**
 * Sign in: one button per demo account (the list `pnpm start` gives the edge, served at
 * /console/demo-accounts.json; empty elsewhere), or any account by email and password, or a
 * new account.
 */
export function SignIn() {
  const [demo, setDemo] = useState<DemoAccount[]>([]);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [creating, setCreating] = useState(false);
  const [notice] = useState(() => session.takeNotice());
  const { busy, error, run } = useAction();
  /** A second factor is asked for: the challenge to answer with a TOTP or backup code. */
  const [challenge, setChallenge] = useState("");
  const [code, setCode] = useState("");

  useEffect(() => {
    void fetch("/console/demo-accounts.json")
      .then((response) => (response.ok ? response.json() : []))
      .then((accounts: DemoAccount[]) => setDemo(accounts))
      .catch(() => setDemo([]));
  }, []);

  /** Signed in: keep the tokens and go home. */
  const enter = (tokens: Schemas["parley.auth.v1.TokenPair"] | undefined) => {
    if (!tokens) throw new Error("The sign-in gave no tokens.");
    session.set(tokens);
    location.hash = "#/";
  };

  const signIn = (identifier: string, secret: string) =>
    run(async () => {
      const data = await must(
        anonymous.POST("/v1/auth/login", {
          body: { identifier, password: secret, device_name: "Parley console" },
        }),
      );
      if (data.mfa_challenge?.challenge_token) setChallenge(data.mfa_challenge.challenge_token);
      else enter(data.tokens);
    });

  const completeMfa = () =>
    run(async () => {
      const data = await must(
        anonymous.POST("/v1/auth/login:mfa", { body: { challenge_token: challenge, code: code.trim() } }),
      );
      enter(data.tokens);
    });

  const register = () =>
    run(async () => {
      const data = await must(
        anonymous.POST("/v1/auth/register", {
          body: { email, password, display_name: name, device_name: "Parley console" },
        }),
      );
      if (data.tokens) session.set(data.tokens);
      location.hash = "#/";
    });

  return (
    <main class="sign-in" id="main">
      <h1>Parley console</h1>
      <p>
        Try a paid chat as a user and an expert side by side (one per browser tab), or run the back office.
      </p>
      {notice && (
        <p role="alert" class="warning" data-testid="signed-out">
          {notice}
        </p>
      )}
      {demo.length > 0 && (
        <section aria-labelledby="demo-heading">
          <h2 id="demo-heading">Demo accounts</h2>
          <ul class="demo">
            {demo.map((account) => (
              <li key={account.email}>
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => void signIn(account.email, account.password)}
                >
                  Sign in as {account.name}
                </button>
                <span class="muted">
                  {account.role} · {account.email}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {challenge && (
        <section aria-labelledby="mfa-heading">
          <h2 id="mfa-heading">Second factor</h2>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void completeMfa();
            }}
          >
            <label>
              Code from your authenticator app, or a backup code
              <input
                value={code}
                onInput={(e) => setCode(e.currentTarget.value)}
                autoComplete="one-time-code"
                required
              />
            </label>
            <button type="submit" disabled={busy}>
              Verify
            </button>
          </form>
        </section>
      )}
      <section aria-labelledby="account-heading">
        <h2 id="account-heading">{creating ? "Create an account" : "Any account"}</h2>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void (creating ? register() : signIn(email, password));
          }}
        >
          {creating && (
            <label>
              Name
              <input
                value={name}
                onInput={(e) => setName(e.currentTarget.value)}
                autoComplete="name"
                required
              />
            </label>
          )}
          <label>
            Email
            <input
              type="email"
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
              autoComplete="username"
              required
            />
          </label>
          <label>
            Password
            <input
              type="password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              autoComplete={creating ? "new-password" : "current-password"}
              minLength={8}
              required
            />
          </label>
          <div class="row">
            <button type="submit" disabled={busy}>
              {creating ? "Create account" : "Sign in"}
            </button>
            <button type="button" class="link" onClick={() => setCreating(!creating)}>
              {creating ? "I have an account" : "Create an account"}
            </button>
          </div>
        </form>
      </section>
      <ErrorLine error={error} />
    </main>
  );
}
