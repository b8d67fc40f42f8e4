import { go } from "../app";

/** The view's navigation: links to hash routes, the current one marked for assistive tech. */
export function Tabs({ current, tabs }: { current: string; tabs: Array<[string, string]> }) {
  return (
    <nav class="tabs" aria-label="Views">
      {tabs.map(([path, label]) => (
        <a
          key={path}
          href={`#/${path}`}
          aria-current={current === path ? "page" : undefined}
          onClick={(event) => {
            event.preventDefault();
            go(path);
          }}
        >
          {label}
        </a>
      ))}
    </nav>
  );
}
