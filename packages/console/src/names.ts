import { useEffect, useState } from "preact/hooks";
import { api } from "./api/client";

/** Display names by user id, read once each (GetUser) and kept for the tab's life. */
const known = new Map<string, Promise<string>>();

export function displayName(userId: string): Promise<string> {
  let name = known.get(userId);
  if (!name) {
    name = api
      .GET("/v1/users/{user_id}", { params: { path: { user_id: userId } } })
      .then(({ data }) => data?.profile?.display_name || "")
      .catch(() => "");
    known.set(userId, name);
  }
  return name;
}

/** The names of these people, filled in as they arrive. */
export function useNames(ids: Array<string | undefined>): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  const wanted = [...new Set(ids.filter((id): id is string => !!id))].sort().join(",");
  useEffect(() => {
    let cancelled = false;
    for (const id of wanted ? wanted.split(",") : [])
      void displayName(id).then((name) => {
        if (!cancelled && name) setNames((all) => (all[id] === name ? all : { ...all, [id]: name }));
      });
    return () => {
      cancelled = true;
    };
  }, [wanted]);
  return names;
}
