import { useEffect, useState } from "preact/hooks";
import { accessToken, anonymous, api, type Identity, session } from "../api/client";
import type { LiveState } from "../api/live";

const LIVE_TEXT: Record<LiveState, string> = {
  online: "Connected",
  connecting: "Reconnecting…",
  offline: "Offline",
};

export function Header({ identity, liveState }: { identity: Identity; liveState: LiveState }) {
  const [name, setName] = useState("");
  useEffect(() => {
    void api.GET("/v1/me").then(({ data }) => setName(data?.profile?.display_name ?? ""));
  }, [identity.userId]);
  const signOut = async () => {
    // A token that has expired meanwhile (the laptop slept) would not end the sign-in.
    const token = (await accessToken({ signingOut: true })) ?? identity.accessToken;
    await anonymous
      .POST("/v1/auth/logout", { body: {}, headers: { authorization: `Bearer ${token}` } })
      .catch(() => undefined);
    session.clear();
    location.hash = "";
  };
  return (
    <header class="top">
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <span class="brand">Parley</span>
      <span class="who" data-testid="who">
        {name || "…"} <span class="role">({identity.role})</span>
      </span>
      <span class={`live live-${liveState}`} role="status" aria-label="Live connection">
        {LIVE_TEXT[liveState]}
      </span>
      <button type="button" class="link" onClick={() => void signOut()}>
        Sign out
      </button>
    </header>
  );
}
