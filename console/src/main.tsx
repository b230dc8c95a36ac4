// The console's shell: sign-in, the top bar (organization switcher, theme,
// the person's menu), the sidebar built from the ACL, breadcrumbs, and the
// routes.
import "./styles.css";
import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { can, canAnyProject, canGlobal, loadGlobalAcl, loadOrgAcl, orgAcl } from "./acl";
import { describe, getAll, type S } from "./api/client";
import { me, signIn, signOut, start } from "./auth";
import { Account, SigningKeys } from "./account";
import { BrandingPage } from "./branding";
import { AuditLog, CloudConnections, CloudIdentities, Guardrail, NoAccess, OrgProviders, Overview, Quotas, SimulatorPage } from "./pages";
import { RolePage } from "./policy";
import { ResourcePage, type ResourceDef } from "./resource";
import * as R from "./resources";
import { BASE, Link, match, navigate, path } from "./router";
import { Button, ErrorBox, Icon, Spinner, Toasts } from "./ui";

// Theme: the system's, unless chosen (remembered in localStorage; no secret).
const theme = signal<"light" | "dark">(
  (localStorage.getItem("gatehouse.theme") as "light" | "dark" | null) ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"),
);
const applyTheme = () => (document.documentElement.dataset.theme = theme.value);
applyTheme();

const orgs = signal<S["organizationRead"][] | null>(null);

// The organization last opened, remembered across reloads (an ID, no
// secret): the sidebar keeps its section on the account and platform
// pages, even when one of those is the page the browser (re)loads.
const LAST_ORG = "gatehouse.org";
const lastOrg = signal<string | null>(localStorage.getItem(LAST_ORG));

interface NavItem {
  href: string;
  label: string;
  icon: string;
  show: () => boolean;
}

function orgNav(org: string): NavItem[] {
  const b = `/console/orgs/${org}`;
  const res = (d: ResourceDef, seg = d.id): NavItem => ({ href: `${b}/${seg}`, label: d.title, icon: d.icon, show: () => can(d.endpoint, "read") });
  return [
    { href: b, label: "Overview", icon: "home", show: () => true },
    res(R.users),
    res(R.groups),
    res(R.projects),
    res(R.serviceAccounts),
    res(R.roles),
    { href: `${b}/guardrail`, label: "Guardrail", icon: "lock", show: () => can("identity:policies", "read") },
    { href: `${b}/simulator`, label: "Simulator", icon: "play", show: () => can("identity:policies", "read") },
    res(R.apiKeys),
    res(R.orgClients),
    { href: `${b}/quotas`, label: "Quotas", icon: "gauge", show: () => can("identity:quotas", "read") },
    res(R.orgProviders),
    res(R.permissionSets),
    res(R.accountAssignments),
    { href: `${b}/cloudidentities`, label: "Cloud identities", icon: "cloud", show: () => canAnyProject("identity:cloudidentities", "read") },
    res(R.cloudConnections),
    res(R.credentials),
    { href: `${b}/branding`, label: "Branding", icon: "palette", show: () => can("identity:organizations", "read") },
    { href: `${b}/audit`, label: "Audit log", icon: "list", show: () => can("identity:auditevents", "read") },
  ];
}

const platformNav: NavItem[] = [
  { href: "/console/platform/organizations", label: "Organizations", icon: "building", show: () => canGlobal("identity:organizations", "read") },
  { href: "/console/platform/providers", label: "Identity providers", icon: "id", show: () => canGlobal("identity:oauth2providers", "read") },
  { href: "/console/platform/applications", label: "Applications", icon: "key", show: () => canGlobal("identity:oauth2clients", "read") },
  { href: "/console/platform/localaccounts", label: "Local accounts", icon: "users", show: () => canGlobal("identity:users", "read") },
  { href: "/console/platform/signingkeys", label: "Signing keys", icon: "lock", show: () => canGlobal("identity:signingkeys", "read") },
  { href: "/console/platform/audit", label: "Audit log", icon: "list", show: () => canGlobal("identity:auditevents", "read") },
];

interface Route {
  pattern: string;
  crumbs: (p: Record<string, string>) => string[];
  view: (p: Record<string, string>) => ComponentChildren;
  org?: boolean;
}

const orgPage = (seg: string, title: string, view: (org: string) => ComponentChildren, allowed: () => boolean): Route => ({
  pattern: `/console/orgs/:org/${seg}`,
  org: true,
  crumbs: () => [title],
  view: (p) => (allowed() ? view(p.org) : <NoAccess what={title.toLowerCase()} />),
});
const orgResource = (d: ResourceDef, view?: (org: string) => ComponentChildren): Route =>
  orgPage(d.id, d.title, view ?? ((org) => <ResourcePage key={d.id + org} def={d} ctx={{ org }} />), () => can(d.endpoint, "read"));

const routes: Route[] = [
  { pattern: "/console/account", crumbs: () => ["Account"], view: () => <Account /> },
  { pattern: "/console/platform/organizations", crumbs: () => ["Platform", "Organizations"], view: () => <ResourcePage def={R.organizations} ctx={{ org: "" }} /> },
  { pattern: "/console/platform/providers", crumbs: () => ["Platform", "Identity providers"], view: () => <ResourcePage def={R.platformProviders} ctx={{ org: "" }} /> },
  {
    pattern: "/console/platform/applications",
    crumbs: () => ["Platform", "Applications"],
    view: () => (canGlobal("identity:oauth2clients", "read") ? <ResourcePage def={R.platformClients} ctx={{ org: "" }} /> : <NoAccess what="the platform's applications" />),
  },
  {
    pattern: "/console/platform/localaccounts",
    crumbs: () => ["Platform", "Local accounts"],
    view: () => (canGlobal("identity:users", "read") ? <ResourcePage def={R.localAccounts} ctx={{ org: "" }} /> : <NoAccess what="the platform's local accounts" />),
  },
  {
    pattern: "/console/platform/signingkeys",
    crumbs: () => ["Platform", "Signing keys"],
    view: () => (canGlobal("identity:signingkeys", "read") ? <SigningKeys /> : <NoAccess what="signing keys" />),
  },
  { pattern: "/console/platform/audit", crumbs: () => ["Platform", "Audit log"], view: () => <AuditLog /> },
  { pattern: "/console/orgs/:org", org: true, crumbs: () => ["Overview"], view: (p) => <Overview org={p.org} /> },
  orgResource(R.users),
  orgResource(R.groups),
  orgResource(R.projects),
  orgResource(R.serviceAccounts),
  orgResource(R.roles),
  {
    pattern: "/console/orgs/:org/roles/:id",
    org: true,
    crumbs: () => ["Roles", "Role"],
    view: (p) => (can("identity:roles", "read") ? <RolePage org={p.org} id={p.id} /> : <NoAccess what="roles" />),
  },
  orgPage("guardrail", "Guardrail", (org) => <Guardrail org={org} />, () => can("identity:policies", "read")),
  orgPage("simulator", "Simulator", (org) => <SimulatorPage org={org} />, () => can("identity:policies", "read")),
  orgResource(R.apiKeys),
  orgResource(R.orgClients),
  orgPage("quotas", "Quotas", (org) => <Quotas org={org} />, () => can("identity:quotas", "read")),
  orgResource(R.orgProviders, (org) => <OrgProviders org={org} />),
  orgResource(R.permissionSets),
  orgResource(R.accountAssignments),
  orgPage("cloudidentities", "Cloud identities", (org) => <CloudIdentities org={org} />, () => canAnyProject("identity:cloudidentities", "read")),
  orgResource(R.cloudConnections, (org) => <CloudConnections org={org} />),
  orgResource(R.credentials),
  orgPage("branding", "Branding", (org) => <BrandingPage org={org} />, () => can("identity:organizations", "read")),
  orgPage("audit", "Audit log", (org) => <AuditLog org={org} />, () => can("identity:auditevents", "read")),
];

function SkipLink() {
  return (
    <a class="skip" href="#main">
      Skip to content
    </a>
  );
}

function UserMenu() {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !ref.current?.contains(e.target as Node)) {
        setOpen(false);
        if (e instanceof KeyboardEvent) (ref.current?.querySelector("button") as HTMLButtonElement | null)?.focus();
      }
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    (ref.current?.querySelector("[role=menuitem]") as HTMLElement | null)?.focus();
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);
  const who = me.value?.email ?? me.value?.sub ?? "";
  return (
    <div class="menu" ref={ref}>
      <button type="button" class="avatar-btn" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="avatar" aria-hidden="true">
          {(who[0] ?? "?").toUpperCase()}
        </span>
        <span class="who">{who}</span>
        <Icon name="chevron" />
      </button>
      {open && (
        <div class="menu-list" role="menu">
          <Link role="menuitem" href="/console/account" class="menu-item" onClick={() => setOpen(false)}>
            <Icon name="user" />
            Your account
          </Link>
          <button role="menuitem" type="button" class="menu-item" onClick={() => void signOut()}>
            <Icon name="logout" />
            Sign out
          </button>
        </div>
      )}
    </div>
  );
}

function OrgSwitcher({ current }: { current?: string }) {
  if (!orgs.value || orgs.value.length === 0) return null;
  return (
    <label class="org-switch">
      <span class="sr-only">Organization</span>
      <Icon name="building" />
      <select
        class="org-select"
        value={current ?? ""}
        onChange={(e) => {
          const v = e.currentTarget.value;
          if (v) navigate(`/console/orgs/${v}`);
        }}
      >
        {!current && <option value="">Choose an organization…</option>}
        {orgs.value.map((o) => (
          <option value={o.metadata.id}>{o.metadata.name}</option>
        ))}
      </select>
    </label>
  );
}

function NavList({ label, items, current }: { label: string; items: NavItem[]; current: string }) {
  const shown = items.filter((i) => i.show());
  if (!shown.length) return null;
  return (
    <div class="nav-group">
      <p class="nav-label">{label}</p>
      <ul>
        {shown.map((i) => {
          const active = current === i.href || (i.href.split("/").length > 4 && current.startsWith(i.href + "/"));
          return (
            <li key={i.href}>
              <Link href={i.href} class={active ? "nav-item active" : "nav-item"} aria-current={active ? "page" : undefined}>
                <Icon name={i.icon} />
                {i.label}
              </Link>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

function Shell() {
  const p = path.value;
  const [navOpen, setNavOpen] = useState(false);
  const [orgError, setOrgError] = useState<string>();
  let route: Route | undefined;
  let params: Record<string, string> = {};
  for (const r of routes) {
    const m = match(r.pattern, p);
    if (m) {
      route = r;
      params = m;
      break;
    }
  }
  const org = route?.org ? params.org : undefined;
  const orgName = orgs.value?.find((o) => o.metadata.id === org)?.metadata.name ?? org;
  // Outside an organization's pages (account, platform), the sidebar keeps
  // the organization last visited, so that going back is one click: the
  // one whose ACL is loaded, else (after a reload) the one remembered, if
  // the person still sees it.
  const remembered = lastOrg.value && orgs.value?.some((o) => o.metadata.id === lastOrg.value) ? lastOrg.value : undefined;
  const navOrg = org ?? orgAcl.value?.org ?? remembered;
  const navOrgName = orgs.value?.find((o) => o.metadata.id === navOrg)?.metadata.name ?? navOrg;

  useEffect(() => {
    if (org && orgAcl.value?.org !== org) {
      orgAcl.value = null;
      setOrgError(undefined);
      loadOrgAcl(org).catch((e) => setOrgError(describe(e)));
    }
    if (org && lastOrg.value !== org) {
      lastOrg.value = org;
      localStorage.setItem(LAST_ORG, org);
    }
  }, [org]);
  // A reload on a platform or account page: the remembered organization's
  // ACL, for its sidebar section (a failure only leaves the section out).
  useEffect(() => {
    if (!org && navOrg && orgAcl.value?.org !== navOrg) loadOrgAcl(navOrg).catch(() => undefined);
  }, [org, navOrg]);
  useEffect(() => setNavOpen(false), [p]);
  // An organization created since the list was read (or reached by a link).
  useEffect(() => {
    if (org && orgs.value && !orgs.value.some((o) => o.metadata.id === org)) {
      getAll<S["organizationRead"]>("/api/v1/organizations").then((l) => (orgs.value = l), () => undefined);
    }
  }, [org]);

  // Home: the platform's organizations, else the first organization, else the account.
  useEffect(() => {
    if (p === BASE || p === BASE + "/") {
      // Platform administrators see every organization: they start at the list.
      if (canGlobal("identity:organizations", "read")) navigate("/console/platform/organizations", true);
      else if (orgs.value?.length) navigate(`/console/orgs/${orgs.value[0].metadata.id}`, true);
      else navigate("/console/account", true);
    }
  }, [p]);

  const home = p === BASE || p === BASE + "/";
  const crumbs = route ? route.crumbs(params) : home ? [] : ["Not found"];
  const title = [...crumbs].reverse().concat(orgName ? [orgName] : [], ["Gatehouse"]).join(" · ");
  useEffect(() => {
    document.title = title;
  }, [title]);

  const orgReady = !org || orgAcl.value?.org === org;
  return (
    <>
      <SkipLink />
      <header class="topbar">
        <button type="button" class="icon-btn nav-toggle" aria-label="Menu" aria-expanded={navOpen} aria-controls="sidebar" onClick={() => setNavOpen(!navOpen)}>
          <Icon name="menu" />
        </button>
        <Link href="/console/" class="brand">
          <span class="logo" aria-hidden="true">
            <svg viewBox="0 0 32 32">
              <path d="M9 25V13l7-5 7 5v12h-5v-7h-4v7z" />
            </svg>
          </span>
          Gatehouse
        </Link>
        <OrgSwitcher current={navOrg} />
        <div class="topbar-end">
          <button
            type="button"
            class="icon-btn"
            aria-label={theme.value === "dark" ? "Switch to light theme" : "Switch to dark theme"}
            onClick={() => {
              theme.value = theme.value === "dark" ? "light" : "dark";
              localStorage.setItem("gatehouse.theme", theme.value);
              applyTheme();
            }}
          >
            <Icon name={theme.value === "dark" ? "sun" : "moon"} />
          </button>
          <UserMenu />
        </div>
      </header>
      <div class="layout">
        <nav id="sidebar" class={navOpen ? "sidebar open" : "sidebar"} aria-label="Main">
          {navOrg && orgAcl.value?.org === navOrg && <NavList label={navOrgName ?? "Organization"} items={orgNav(navOrg)} current={p} />}
          <NavList label="Platform" items={platformNav} current={p} />
          <NavList label="You" items={[{ href: "/console/account", label: "Account", icon: "user", show: () => true }]} current={p} />
        </nav>
        <main id="main" tabIndex={-1} class="content">
          <nav aria-label="Breadcrumb" class="crumbs">
            <ol>
              {org && (
                <li>
                  <Link href={`/console/orgs/${org}`}>{orgName}</Link>
                </li>
              )}
              {crumbs.map((c, i) => (
                <li aria-current={i === crumbs.length - 1 ? "page" : undefined}>{c}</li>
              ))}
            </ol>
          </nav>
          {orgError ? <ErrorBox message={orgError} title="Could not open the organization" /> : !orgReady ? <Spinner /> : route ? route.view(params) : home ? <Spinner /> : <NotFound />}
        </main>
      </div>
      <Toasts />
    </>
  );
}

function NotFound() {
  return (
    <div class="center-page">
      <h1>Page not found</h1>
      <p class="muted">There is nothing at this address.</p>
      <Link href="/console/">Go to the start</Link>
    </div>
  );
}

function Splash({ children }: { children: ComponentChildren }) {
  return (
    <main class="splash" id="main">
      <div class="splash-card">
        <span class="logo logo-lg" aria-hidden="true">
          <svg viewBox="0 0 32 32">
            <path d="M9 25V13l7-5 7 5v12h-5v-7h-4v7z" />
          </svg>
        </span>
        {children}
      </div>
    </main>
  );
}

const phase = signal<{ state: "loading" } | { state: "ready" } | { state: "signed-out" } | { state: "error"; message: string }>({ state: "loading" });

function App() {
  const ph = phase.value;
  if (ph.state === "loading") return <Splash><p role="status">Signing you in…</p></Splash>;
  if (ph.state === "signed-out")
    return (
      <Splash>
        <h1>You are signed out</h1>
        <p class="muted">Sign in again to use the Gatehouse console.</p>
        <Button variant="primary" onClick={() => void signIn("/console/")}>
          Sign in
        </Button>
      </Splash>
    );
  if (ph.state === "error")
    return (
      <Splash>
        <h1>Signing in did not work</h1>
        <ErrorBox message={ph.message} title="The sign-in was refused" />
        <Button variant="primary" onClick={() => void signIn("/console/")}>
          Try again
        </Button>
      </Splash>
    );
  return <Shell />;
}

async function boot() {
  const s = await start().catch((e) => ({ state: "error" as const, message: describe(e) }));
  if (s.state !== "signed-in") {
    phase.value = s;
    return;
  }
  // The callback replaced the URL with where the login started.
  path.value = location.pathname;
  try {
    await loadGlobalAcl();
    orgs.value = await getAll<S["organizationRead"]>("/api/v1/organizations");
    phase.value = { state: "ready" };
  } catch (e) {
    phase.value = { state: "error", message: describe(e) };
  }
}

const root = document.getElementById("app")!;
root.textContent = "";
render(<App />, root);
void boot();
