// A small history router: the path is a signal, links are real <a href>s
// (open in a new tab works), and clicks on them are handled in place.
import { signal } from "@preact/signals";
import type { AnchorHTMLAttributes, ComponentChildren } from "preact";

export const BASE = "/console";
export const path = signal(location.pathname);
export const search = signal(location.search);

addEventListener("popstate", () => {
  path.value = location.pathname;
  search.value = location.search;
});

export function navigate(to: string, replace = false) {
  const url = to.startsWith("/") ? to : BASE + "/" + to;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  const u = new URL(url, location.origin);
  path.value = u.pathname;
  search.value = u.search;
  document.getElementById("main")?.focus({ preventScroll: true });
  scrollTo(0, 0);
}

/** match returns the named parameters of pattern (":name" segments) in p, or null. */
export function match(pattern: string, p: string): Record<string, string> | null {
  const a = pattern.split("/").filter(Boolean);
  const b = p.split("/").filter(Boolean);
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(":")) out[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return out;
}

export function Link(props: { href: string; children: ComponentChildren } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const { href, children, ...rest } = props;
  const url = href.startsWith("/") ? href : BASE + "/" + href;
  return (
    <a
      {...rest}
      href={url}
      onClick={(e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(url);
      }}
    >
      {children}
    </a>
  );
}
