import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { type Identity, session } from "./api/client";
import type { LiveState } from "./api/live";
import { live, useRoute } from "./app";
import { ExpertDesk } from "./views/expert";
import { Header } from "./views/header";
import { SignIn } from "./views/sign-in";
import { StaffDesk } from "./views/staff";
import { UserHome } from "./views/user";
import "./styles.css";

function useLiveState(): LiveState {
  const [state, setState] = useState(live.state);
  useEffect(() => live.onState(setState), []);
  return state;
}

function App() {
  const [identity, setIdentity] = useState<Identity | undefined>(session.current);
  const route = useRoute();
  const liveState = useLiveState();
  useEffect(() => session.subscribe(setIdentity), []);
  // A new view moves focus to its content, as a page load would (screen readers announce it).
  const path = route.join("/");
  useEffect(() => {
    if (path) document.getElementById("main")?.focus({ preventScroll: true });
  }, [path]);
  useEffect(() => {
    if (!identity) return;
    live.start();
    return () => live.stop();
  }, [identity?.userId]);

  if (!identity) return <SignIn />;
  const staff = ["admin", "operator", "support", "moderator"].includes(identity.role);
  return (
    <>
      <Header identity={identity} liveState={liveState} />
      <main id="main" tabIndex={-1}>
        {staff ? (
          <StaffDesk identity={identity} route={route} />
        ) : identity.role === "expert" ? (
          <ExpertDesk identity={identity} route={route} />
        ) : (
          <UserHome identity={identity} route={route} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
