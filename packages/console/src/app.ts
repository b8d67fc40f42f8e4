import { useEffect, useState } from "preact/hooks";
import { Live } from "./api/live";

/** The route is the hash (#/experts, #/chat/<id>): the edge serves one page at /console/. */
export function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export const go = (path: string) => {
  location.hash = `#/${path}`;
};

/** One WebSocket connection per tab, for whoever is signed in on it. */
export const live = new Live();
