// Every resource the generic pages cover, declared once. Adding a resource
// (for example OAuth2 clients or signing keys once the API has them) is one
// entry here and one line in the navigation (nav.ts).
import { PasswordLinkDialog, UserSessionsDialog } from "./account";
import { get, getAll, post, type S } from "./api/client";
import type { Ctx, FieldDef, Form, Option, ResourceDef } from "./resource";
import { Badge, fmtTime, relTime } from "./ui";

type Meta = { name: string; description?: string; id: string; creationTime: string };

const nameField: FieldDef = {
  name: "name",
  label: "Name",
  kind: "text",
  required: true,
  hint: "Letters, digits, '-', '_' and '.', at most 63 characters.",
  mono: true,
};
const descField: FieldDef = { name: "description", label: "Description", kind: "textarea" };

const metaForm = (m?: { name: string; description?: string }) => ({ name: m?.name ?? "", description: m?.description ?? "" });
const metaWrite = (f: Form) => ({ name: String(f.name ?? "").trim(), ...(f.description ? { description: String(f.description) } : {}) });

const nameCol = <R extends { metadata: Meta }>() => ({
  label: "Name",
  value: (r: R) => (
    <span class="name-cell">
      <span class="name">{r.metadata.name}</span>
      {r.metadata.description && <span class="muted small">{r.metadata.description}</span>}
    </span>
  ),
  sort: (r: R) => r.metadata.name.toLowerCase(),
});
const createdCol = <R extends { metadata: Meta }>() => ({
  label: "Created",
  value: (r: R) => <time dateTime={r.metadata.creationTime} title={fmtTime(r.metadata.creationTime)}>{relTime(r.metadata.creationTime)}</time>,
  sort: (r: R) => r.metadata.creationTime,
});
const idCol = <R extends { metadata: Meta }>() => ({ label: "ID", value: (r: R) => <code class="id">{r.metadata.id}</code> });

const base = { key: (r: any) => r.metadata.id as string, name: (r: any) => r.metadata.name as string };

// Option loaders for the forms' pickers.
const org = (ctx: Ctx) => ({ organizationID: ctx.org });
const named = (l: { metadata: Meta }[]): Option[] => l.map((x) => ({ value: x.metadata.id, label: x.metadata.name }));
export const groupOptions = async (ctx: Ctx) => named(await getAll<S["groupRead"]>("/api/v1/organizations/{organizationID}/groups", org(ctx)));
export const userOptions = async (ctx: Ctx) =>
  (await getAll<S["userRead"]>("/api/v1/organizations/{organizationID}/users", org(ctx))).map((u) => ({ value: u.metadata.id, label: u.spec.subject }));
export const serviceAccountOptions = async (ctx: Ctx) => named(await getAll<S["serviceAccountRead"]>("/api/v1/organizations/{organizationID}/serviceaccounts", org(ctx)));
export const projectOptions = async (ctx: Ctx) => named(await getAll<S["projectRead"]>("/api/v1/organizations/{organizationID}/projects", org(ctx)));
export const roleOptions = async (ctx: Ctx) =>
  (await getAll<S["roleRead"]>("/api/v1/organizations/{organizationID}/roles", org(ctx))).map((r) => ({
    value: r.metadata.id,
    label: r.metadata.name,
    hint: r.status?.builtin ? "system" : "custom",
  }));

const stateTone = (s?: string) => (s === "active" ? "ok" : s === "suspended" ? "danger" : "warn");

export const groups: ResourceDef<S["groupRead"]> = {
  ...base,
  id: "groups",
  title: "Groups",
  singular: "group",
  icon: "group",
  description: "Groups grant roles to their members (users and service accounts); projects list the groups whose members may work in them.",
  endpoint: "identity:groups",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/groups",
  create: "/api/v1/organizations/{organizationID}/groups",
  item: "/api/v1/organizations/{organizationID}/groups/{groupid}",
  idParam: "groupid",
  update: true,
  remove: true,
  columns: [
    nameCol(),
    { label: "Members", value: (g) => (g.spec.userIDs?.length ?? 0) + (g.spec.serviceAccountIDs?.length ?? 0), sort: (g) => (g.spec.userIDs?.length ?? 0) + (g.spec.serviceAccountIDs?.length ?? 0) },
    { label: "Roles", value: (g) => g.spec.roleIDs?.length ?? 0, sort: (g) => g.spec.roleIDs?.length ?? 0 },
    createdCol(),
  ],
  fields: [
    nameField,
    descField,
    { name: "roleIDs", label: "Roles", kind: "checklist", options: roleOptions },
    { name: "userIDs", label: "Users", kind: "checklist", options: userOptions },
    { name: "serviceAccountIDs", label: "Service accounts", kind: "checklist", options: serviceAccountOptions },
  ],
  toForm: (g) => ({ ...metaForm(g?.metadata), roleIDs: g?.spec.roleIDs ?? [], userIDs: g?.spec.userIDs ?? [], serviceAccountIDs: g?.spec.serviceAccountIDs ?? [] }),
  toWrite: (f) => ({ metadata: metaWrite(f), spec: { roleIDs: f.roleIDs, userIDs: f.userIDs, serviceAccountIDs: f.serviceAccountIDs } }),
};

export const projects: ResourceDef<S["projectRead"]> = {
  ...base,
  id: "projects",
  title: "Projects",
  singular: "project",
  icon: "folder",
  description: "Projects hold the work: the groups listed on a project have their roles' project permissions in it; cloud identities and allocations belong to a project.",
  endpoint: "identity:projects",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/projects",
  create: "/api/v1/organizations/{organizationID}/projects",
  item: "/api/v1/organizations/{organizationID}/projects/{projectID}",
  idParam: "projectID",
  update: true,
  remove: true,
  columns: [nameCol(), { label: "Groups", value: (p) => p.spec.groupIDs?.length ?? 0, sort: (p) => p.spec.groupIDs?.length ?? 0 }, idCol(), createdCol()],
  fields: [nameField, descField, { name: "groupIDs", label: "Groups with access", kind: "checklist", options: groupOptions }],
  toForm: (p) => ({ ...metaForm(p?.metadata), groupIDs: p?.spec.groupIDs ?? [] }),
  toWrite: (f) => ({ metadata: metaWrite(f), spec: { groupIDs: f.groupIDs } }),
};

export const users: ResourceDef<S["userRead"]> = {
  ...base,
  name: (u) => u.spec.subject,
  id: "users",
  title: "Users",
  singular: "user",
  icon: "users",
  description: "People who belong to the organization, by their sign-in name (usually an email address). A pending user becomes active through a signup link; a suspended one cannot sign in.",
  endpoint: "identity:users",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/users",
  create: "/api/v1/organizations/{organizationID}/users",
  item: "/api/v1/organizations/{organizationID}/users/{userID}",
  idParam: "userID",
  update: true,
  remove: true,
  columns: [
    { label: "User", value: (u) => <span class="name">{u.spec.subject}</span>, sort: (u) => u.spec.subject },
    { label: "State", value: (u) => <Badge tone={stateTone(u.spec.state)}>{u.spec.state}</Badge>, sort: (u) => u.spec.state },
    { label: "Groups", value: (u) => u.spec.groupIDs?.length ?? 0, sort: (u) => u.spec.groupIDs?.length ?? 0 },
    createdCol(),
  ],
  fields: [
    { name: "subject", label: "Email address", kind: "text", required: true, createOnly: true, placeholder: "person@example.com" },
    {
      name: "state",
      label: "State",
      kind: "select",
      required: true,
      choices: [
        { value: "active", label: "Active" },
        { value: "pending", label: "Pending (until they use a signup link)" },
        { value: "suspended", label: "Suspended" },
      ],
    },
    { name: "groupIDs", label: "Groups", kind: "checklist", options: groupOptions },
  ],
  toForm: (u) => ({ subject: u?.spec.subject ?? "", state: u?.spec.state ?? "active", groupIDs: u?.spec.groupIDs ?? [] }),
  toWrite: (f, u) => ({ ...(u ? { metadata: u.metadata } : {}), spec: { subject: u?.spec.subject ?? String(f.subject).trim(), state: f.state, groupIDs: f.groupIDs } }),
  rowActions: [
    { label: "Send invitation", op: "create", dialog: (u, ctx, close) => <PasswordLinkDialog user={u} org={ctx.org} kind="invitation" onClose={close} /> },
    { label: "Reset password", op: "update", dialog: (u, ctx, close) => <PasswordLinkDialog user={u} org={ctx.org} kind="passwordreset" onClose={close} /> },
    { label: "Sessions", op: "read", endpoint: "identity:sessions", dialog: (u, ctx, close) => <UserSessionsDialog user={u} org={ctx.org} onClose={close} /> },
  ],
};

export const serviceAccounts: ResourceDef<S["serviceAccountRead"]> = {
  ...base,
  id: "serviceaccounts",
  title: "Service accounts",
  singular: "service account",
  icon: "bot",
  description: "Machine identities with a bearer token. The token is shown once, at creation and at every rotation; rotating makes the old token stop working at once.",
  endpoint: "identity:serviceaccounts",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/serviceaccounts",
  create: "/api/v1/organizations/{organizationID}/serviceaccounts",
  item: "/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}",
  idParam: "serviceAccountID",
  update: true,
  remove: true,
  columns: [
    nameCol(),
    { label: "Groups", value: (s) => s.spec.groupIDs?.length ?? 0 },
    { label: "Token expires", value: (s) => <time dateTime={s.status?.expiry}>{fmtTime(s.status?.expiry)}</time>, sort: (s) => s.status?.expiry ?? "" },
    createdCol(),
  ],
  fields: [nameField, descField, { name: "groupIDs", label: "Groups", kind: "checklist", options: groupOptions }],
  toForm: (s) => ({ ...metaForm(s?.metadata), groupIDs: s?.spec.groupIDs ?? [] }),
  toWrite: (f) => ({ metadata: metaWrite(f), spec: { groupIDs: f.groupIDs } }),
  secretOf: (c: S["serviceAccountCreate"]) => c.status.accessToken,
  secretTitle: "Copy the service account's token",
  rowActions: [
    {
      label: "Rotate token",
      op: "update",
      secretTitle: "Copy the new token",
      confirm: "Rotate the token? The current token stops working at once.",
      run: async (s, ctx) =>
        (await post<S["serviceAccountCreate"]>("/api/v1/organizations/{organizationID}/serviceaccounts/{serviceAccountID}/rotate", { organizationID: ctx.org, serviceAccountID: s.metadata.id })).status
          .accessToken,
    },
  ],
};

export const roles: ResourceDef<S["roleRead"]> = {
  ...base,
  id: "roles",
  title: "Roles",
  singular: "role",
  icon: "shield",
  description: "System roles are built in and read-only. Custom roles carry a policy: CEL rules per service, checked as you type and testable in the simulator.",
  endpoint: "identity:roles",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/roles",
  create: "/api/v1/organizations/{organizationID}/roles",
  item: "/api/v1/organizations/{organizationID}/roles/{roleID}",
  idParam: "roleID",
  update: true,
  remove: true,
  locked: (r) => (r.status?.builtin ? "System role" : undefined),
  href: (r, ctx) => `/console/orgs/${ctx.org}/roles/${r.metadata.id}`,
  columns: [
    nameCol(),
    { label: "Kind", value: (r) => (r.status?.builtin ? <Badge>system</Badge> : <Badge tone="accent">custom</Badge>), sort: (r) => (r.status?.builtin ? 0 : 1) },
    { label: "Policy", value: (r) => (r.status?.builtin ? "—" : r.status?.editable ? "editable" : "fixed") },
    { label: "Version", value: (r) => r.status?.version ?? 0 },
  ],
  fields: [nameField, descField, { name: "editable", label: "The policy may be changed later", kind: "checkbox", createOnly: true }],
  toForm: (r) => ({ ...metaForm(r?.metadata), editable: true }),
  toWrite: (f, r) => ({
    metadata: metaWrite(f),
    spec: r ? r.spec ?? {} : { editable: f.editable, policy: { defaultServiceStrategy: "deny", services: {} } },
  }),
};

export const apiKeys: ResourceDef<S["apiKeyRead"]> = {
  ...base,
  id: "apikeys",
  title: "API keys",
  singular: "API key",
  icon: "key",
  description: "Keys for scripts and integrations, each holding exactly one role. The key is shown once, at creation.",
  endpoint: "identity:apikeys",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/apikeys",
  create: "/api/v1/organizations/{organizationID}/apikeys",
  item: "/api/v1/organizations/{organizationID}/apikeys/{apiKeyID}",
  idParam: "apiKeyID",
  remove: true,
  columns: [
    nameCol(),
    { label: "Key ID", value: (k) => <code class="id">{k.status.keyID}</code> },
    { label: "Expires", value: (k) => (k.spec.expiry ? fmtTime(k.spec.expiry) : "never"), sort: (k) => k.spec.expiry ?? "~" },
    createdCol(),
  ],
  fields: [
    nameField,
    descField,
    { name: "roleID", label: "Role", kind: "select", required: true, options: roleOptions },
    { name: "expiry", label: "Expires", kind: "datetime", hint: "Empty: the key never expires." },
  ],
  toForm: () => ({ name: "", description: "", roleID: "", expiry: "" }),
  toWrite: (f) => ({ metadata: metaWrite(f), spec: { roleID: f.roleID, ...(f.expiry ? { expiry: new Date(String(f.expiry)).toISOString() } : {}) } }),
  secretOf: (c: S["apiKeyCreate"]) => c.status.accessToken,
  secretTitle: "Copy the API key",
};

const providerFields: FieldDef[] = [
  nameField,
  descField,
  {
    name: "type",
    label: "Type",
    kind: "select",
    required: true,
    choices: [
      { value: "oidc", label: "OpenID Connect" },
      { value: "google", label: "Google" },
      { value: "microsoft", label: "Microsoft" },
      { value: "github", label: "GitHub" },
    ],
  },
  { name: "issuer", label: "Issuer", kind: "text", required: true, placeholder: "https://accounts.example.com", mono: true },
  { name: "clientID", label: "Client ID", kind: "text", required: true, mono: true },
  { name: "clientSecret", label: "Client secret", kind: "secret", hint: "Write-only. Leave empty when editing to keep the stored secret." },
];
const providerBase = {
  ...base,
  singular: "identity provider",
  icon: "id",
  endpoint: "identity:oauth2providers",
  paging: "token" as const,
  update: true,
  remove: true,
  idParam: "providerID",
  columns: [
    nameCol<S["oauth2ProviderRead"]>(),
    { label: "Type", value: (p: S["oauth2ProviderRead"]) => <Badge>{p.spec.type ?? "oidc"}</Badge> },
    { label: "Issuer", value: (p: S["oauth2ProviderRead"]) => <code class="id">{p.spec.issuer}</code>, sort: (p: S["oauth2ProviderRead"]) => p.spec.issuer },
    createdCol<S["oauth2ProviderRead"]>(),
  ],
  fields: providerFields,
  toForm: (p?: S["oauth2ProviderRead"]) => ({ ...metaForm(p?.metadata), type: p?.spec.type ?? "oidc", issuer: p?.spec.issuer ?? "", clientID: p?.spec.clientID ?? "", clientSecret: "" }),
  toWrite: (f: Form) => ({
    metadata: metaWrite(f),
    spec: { type: f.type, issuer: String(f.issuer).trim(), clientID: String(f.clientID).trim(), ...(f.clientSecret ? { clientSecret: f.clientSecret } : {}) },
  }),
};

export const platformProviders: ResourceDef<S["oauth2ProviderRead"]> = {
  ...providerBase,
  id: "providers",
  title: "Identity providers",
  description: "Platform identity providers: upstream OpenID providers anyone may sign in with (their users still need an organization's membership to do anything).",
  scope: "global",
  list: "/api/v1/oauth2providers",
  create: "/api/v1/oauth2providers",
  item: "/api/v1/oauth2providers/{providerID}",
};

export const orgProviders: ResourceDef<S["oauth2ProviderRead"]> = {
  ...providerBase,
  id: "providers",
  title: "Identity providers",
  description: "The organization's own identity providers: people they sign in act in this organization only. A domain organization routes logins of its verified domain to its provider.",
  scope: "org",
  list: "/api/v1/organizations/{organizationID}/oauth2providers",
  create: "/api/v1/organizations/{organizationID}/oauth2providers",
  item: "/api/v1/organizations/{organizationID}/oauth2providers/{providerID}",
};

export const organizations: ResourceDef<S["organizationRead"]> = {
  ...base,
  id: "organizations",
  title: "Organizations",
  singular: "organization",
  icon: "building",
  description: "Every tenant of this Gatehouse. Deleting an organization deletes everything in it.",
  endpoint: "identity:organizations",
  scope: "global",
  paging: "token",
  list: "/api/v1/organizations",
  create: "/api/v1/organizations",
  item: "/api/v1/organizations/{organizationID}",
  idParam: "organizationID",
  update: true,
  remove: true,
  href: (o) => `/console/orgs/${o.metadata.id}`,
  columns: [
    nameCol(),
    { label: "Type", value: (o) => <Badge>{o.spec.organizationType}</Badge>, sort: (o) => o.spec.organizationType },
    {
      label: "Domain",
      value: (o) =>
        o.spec.domain ? (
          <span class="inline">
            <code class="id">{o.spec.domain}</code>
            <Badge tone={o.status?.domainVerification?.state === "verified" ? "ok" : "warn"}>{o.status?.domainVerification?.state ?? "pending"}</Badge>
          </span>
        ) : (
          "—"
        ),
    },
    idCol(),
    createdCol(),
  ],
  fields: [
    nameField,
    descField,
    {
      name: "organizationType",
      label: "Sign-in",
      kind: "select",
      required: true,
      choices: [
        { value: "adhoc", label: "Ad hoc: members are added explicitly" },
        { value: "domain", label: "Domain: people of the email domain sign in through its provider" },
      ],
    },
    { name: "domain", label: "Email domain", kind: "text", placeholder: "example.com", mono: true, hint: "Routes logins once verified with a DNS TXT record." },
  ],
  toForm: (o) => ({ ...metaForm(o?.metadata), organizationType: o?.spec.organizationType ?? "adhoc", domain: o?.spec.domain ?? "" }),
  toWrite: (f, o) => ({
    metadata: metaWrite(f),
    spec: { ...(o?.spec ?? {}), organizationType: f.organizationType, domain: f.domain ? String(f.domain).trim() : undefined },
  }),
};

export const credentials: ResourceDef<S["credentialRead"]> = {
  ...base,
  id: "credentials",
  title: "Credential store",
  singular: "credential",
  icon: "vault",
  description: "Secrets cloud connections use to reach a cloud (an AWS access key, or a role Gatehouse assumes). Secrets are write-only and sealed at rest.",
  endpoint: "identity:credentials",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/credentials",
  create: "/api/v1/organizations/{organizationID}/credentials",
  item: "/api/v1/organizations/{organizationID}/credentials/{credentialID}",
  idParam: "credentialID",
  update: true,
  remove: true,
  columns: [nameCol(), { label: "Type", value: (c) => <Badge>{c.spec.type}</Badge> }, idCol(), createdCol()],
  fields: [
    nameField,
    descField,
    {
      name: "type",
      label: "Type",
      kind: "select",
      required: true,
      choices: [
        { value: "awsAccessKey", label: "AWS access key" },
        { value: "awsAssumeRole", label: "AWS role assumed by Gatehouse" },
      ],
    },
    { name: "accessKeyID", label: "Access key ID", kind: "text", mono: true, showIf: (f) => f.type === "awsAccessKey" },
    { name: "secretAccessKey", label: "Secret access key", kind: "secret", showIf: (f) => f.type === "awsAccessKey" },
    { name: "roleARN", label: "Role ARN", kind: "text", mono: true, placeholder: "arn:aws:iam::123456789012:role/gatehouse", showIf: (f) => f.type === "awsAssumeRole" },
  ],
  toForm: (c) => ({
    ...metaForm(c?.metadata),
    type: c?.spec.type ?? "awsAccessKey",
    accessKeyID: c?.spec.awsAccessKey?.accessKeyID ?? "",
    secretAccessKey: "",
    roleARN: c?.spec.awsAssumeRole?.roleARN ?? "",
  }),
  toWrite: (f) => ({
    metadata: metaWrite(f),
    spec:
      f.type === "awsAccessKey"
        ? { type: f.type, awsAccessKey: { accessKeyID: f.accessKeyID, ...(f.secretAccessKey ? { secretAccessKey: f.secretAccessKey } : {}) } }
        : { type: f.type, awsAssumeRole: { roleARN: f.roleARN } },
  }),
};

const connectionFields: FieldDef[] = [
  {
    name: "credentialType",
    label: "Credential",
    kind: "select",
    required: true,
    choices: [
      { value: "storedCredential", label: "A credential of the credential store" },
      { value: "assumeRole", label: "A role Gatehouse assumes (with the organization's external ID)" },
      { value: "federated", label: "An AWS cloud identity of a project" },
      { value: "ambientRole", label: "Gatehouse's own ambient AWS identity" },
    ],
  },
  {
    name: "credentialID",
    label: "Stored credential",
    kind: "select",
    showIf: (f) => f.credentialType === "storedCredential",
    options: async (ctx) => named(await getAll<S["credentialRead"]>("/api/v1/organizations/{organizationID}/credentials", org(ctx))),
  },
  { name: "roleARN", label: "Role ARN", kind: "text", mono: true, showIf: (f) => f.credentialType === "assumeRole" },
  { name: "projectID", label: "Project", kind: "select", options: projectOptions, showIf: (f) => f.credentialType === "federated" },
  { name: "cloudIdentityID", label: "Cloud identity ID", kind: "text", mono: true, showIf: (f) => f.credentialType === "federated" },
];
export const connectionCredential = (f: Form) => {
  const c: Record<string, unknown> = { type: f.credentialType };
  if (f.credentialType === "storedCredential") c.credentialID = f.credentialID;
  if (f.credentialType === "assumeRole") c.roleARN = f.roleARN;
  if (f.credentialType === "federated") Object.assign(c, { projectID: f.projectID, cloudIdentityID: f.cloudIdentityID });
  return c;
};

export const cloudConnections: ResourceDef<S["cloudConnectionRead"]> = {
  ...base,
  id: "cloudconnections",
  title: "Cloud connections",
  singular: "cloud connection",
  icon: "link",
  description: "AWS organizations connected to this organization: Gatehouse validates the credential and discovers the accounts that account assignments can target.",
  endpoint: "identity:cloudconnections",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/cloudconnections",
  create: "/api/v1/organizations/{organizationID}/cloudconnections",
  item: "/api/v1/organizations/{organizationID}/cloudconnections/{cloudConnectionID}",
  idParam: "cloudConnectionID",
  update: true,
  remove: true,
  columns: [
    nameCol(),
    { label: "AWS organization", value: (c) => <code class="id">{c.status.organization.organizationID}</code> },
    { label: "Accounts", value: (c) => c.status.accounts?.length ?? 0 },
    { label: "Validated", value: (c) => relTime(c.status.validatedAt) },
  ],
  fields: [nameField, descField, ...connectionFields],
  toForm: (c) => ({
    ...metaForm(c?.metadata),
    credentialType: c?.spec.credential.type ?? "storedCredential",
    credentialID: c?.spec.credential.credentialID ?? "",
    roleARN: c?.spec.credential.roleARN ?? "",
    projectID: c?.spec.credential.projectID ?? "",
    cloudIdentityID: c?.spec.credential.cloudIdentityID ?? "",
  }),
  toWrite: (f, c) => ({ metadata: metaWrite(f), spec: { ...(c?.spec ?? { provider: "aws" }), credential: connectionCredential(f) } }),
};

export const cloudIdentities: ResourceDef<S["cloudIdentityRead"]> = {
  ...base,
  id: "cloudidentities",
  title: "Cloud identities",
  singular: "cloud identity",
  icon: "cloud",
  description: "How a project's principals federate into AWS or GCP: Gatehouse signs a workload identity token that the cloud exchanges for short-lived credentials.",
  endpoint: "identity:cloudidentities",
  scope: "project",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/projects/{projectID}/cloudidentities",
  create: "/api/v1/organizations/{organizationID}/projects/{projectID}/cloudidentities",
  item: "/api/v1/organizations/{organizationID}/projects/{projectID}/cloudidentities/{cloudIdentityID}",
  idParam: "cloudIdentityID",
  update: true,
  remove: true,
  columns: [
    nameCol(),
    { label: "Cloud", value: (c) => <Badge>{c.spec.provider.toUpperCase()}</Badge> },
    { label: "Target", value: (c) => <code class="id">{c.spec.aws?.roleARN ?? c.spec.gcp?.serviceAccountEmail ?? c.spec.gcp?.providerID ?? "—"}</code> },
    createdCol(),
  ],
  fields: [
    nameField,
    descField,
    {
      name: "provider",
      label: "Cloud",
      kind: "select",
      required: true,
      choices: [
        { value: "aws", label: "AWS (AssumeRoleWithWebIdentity)" },
        { value: "gcp", label: "Google Cloud (workload identity federation)" },
      ],
    },
    { name: "roleARN", label: "Role ARN", kind: "text", mono: true, placeholder: "arn:aws:iam::123456789012:role/ci-deploy", showIf: (f) => f.provider === "aws" },
    { name: "projectNumber", label: "Project number", kind: "text", mono: true, showIf: (f) => f.provider === "gcp" },
    { name: "workloadIdentityPoolID", label: "Workload identity pool ID", kind: "text", mono: true, showIf: (f) => f.provider === "gcp" },
    { name: "providerID", label: "Pool provider ID", kind: "text", mono: true, showIf: (f) => f.provider === "gcp" },
    { name: "serviceAccountEmail", label: "Service account to impersonate", kind: "text", mono: true, showIf: (f) => f.provider === "gcp" },
  ],
  toForm: (c) => ({
    ...metaForm(c?.metadata),
    provider: c?.spec.provider ?? "aws",
    roleARN: c?.spec.aws?.roleARN ?? "",
    projectNumber: c?.spec.gcp?.projectNumber ?? "",
    workloadIdentityPoolID: c?.spec.gcp?.workloadIdentityPoolID ?? "",
    providerID: c?.spec.gcp?.providerID ?? "",
    serviceAccountEmail: c?.spec.gcp?.serviceAccountEmail ?? "",
  }),
  toWrite: (f, c) => ({
    metadata: metaWrite(f),
    spec:
      f.provider === "aws"
        ? { provider: "aws", aws: { ...(c?.spec.aws ?? {}), roleARN: f.roleARN } }
        : {
            provider: "gcp",
            gcp: {
              ...(c?.spec.gcp ?? {}),
              projectNumber: f.projectNumber,
              workloadIdentityPoolID: f.workloadIdentityPoolID,
              providerID: f.providerID,
              ...(f.serviceAccountEmail ? { serviceAccountEmail: f.serviceAccountEmail } : {}),
            },
          },
  }),
};

export const permissionSets: ResourceDef<S["permissionSetRead"]> = {
  ...base,
  id: "permissionsets",
  title: "Permission sets",
  singular: "permission set",
  icon: "layers",
  description: "Bundles of roles that account assignments grant to a principal on a project or a cloud account.",
  endpoint: "identity:permissionsets",
  scope: "org",
  paging: "offset",
  list: "/api/v1/organizations/{organizationID}/permissionsets",
  create: "/api/v1/organizations/{organizationID}/permissionsets",
  item: "/api/v1/organizations/{organizationID}/permissionsets/{permissionSetID}",
  idParam: "permissionSetID",
  update: true,
  remove: true,
  filters: [{ name: "name", label: "Name" }],
  columns: [
    { ...nameCol(), serverSort: "name" },
    { label: "Roles", value: (p) => p.spec.roleIDs.length },
    { label: "Session", value: (p) => `${Math.round((p.spec.sessionDuration ?? 3600) / 60)} min` },
    { ...createdCol(), serverSort: "creationTime" },
  ],
  fields: [
    nameField,
    descField,
    { name: "roleIDs", label: "Roles", kind: "checklist", options: roleOptions },
    { name: "sessionDuration", label: "Session duration (seconds)", kind: "number", hint: "3600 to 43200: the longest session a cloud account target grants." },
  ],
  toForm: (p) => ({ ...metaForm(p?.metadata), roleIDs: p?.spec.roleIDs ?? [], sessionDuration: p?.spec.sessionDuration ?? 3600 }),
  toWrite: (f, p) => ({ metadata: metaWrite(f), spec: { ...(p?.spec ?? {}), roleIDs: f.roleIDs, sessionDuration: f.sessionDuration } }),
};

const principalTypes: Option[] = [
  { value: "user", label: "User" },
  { value: "group", label: "Group" },
  { value: "serviceAccount", label: "Service account" },
];

export const accountAssignments: ResourceDef<S["accountAssignmentRead"]> = {
  key: (a) => a.metadata.id,
  name: (a) => `${a.status.permissionSetName} for ${a.status.principalName} on ${a.status.targetName}`,
  id: "assignments",
  title: "Account assignments",
  singular: "account assignment",
  icon: "list",
  description: "Who holds which permission set where. Sorting, filtering and paging run on the server, so the list stays fast at 100,000 assignments.",
  endpoint: "identity:accountassignments",
  scope: "org",
  paging: "offset",
  list: "/api/v1/organizations/{organizationID}/accountassignments",
  create: "/api/v1/organizations/{organizationID}/accountassignments",
  item: "/api/v1/organizations/{organizationID}/accountassignments/{accountAssignmentID}",
  idParam: "accountAssignmentID",
  remove: true,
  filters: [
    { name: "principalName", label: "Principal" },
    { name: "principalType", label: "Principal type", choices: principalTypes },
    { name: "permissionSetName", label: "Permission set" },
    { name: "targetName", label: "Target" },
  ],
  columns: [
    { label: "Principal", value: (a) => <span class="name-cell"><span class="name">{a.status.principalName}</span><span class="muted small">{a.spec.principal.type}</span></span>, serverSort: "principalName" },
    { label: "Permission set", value: (a) => a.status.permissionSetName, serverSort: "permissionSetName" },
    { label: "Target", value: (a) => <span class="name-cell"><span>{a.status.targetName}</span><span class="muted small">{a.spec.target.type}</span></span>, serverSort: "targetName" },
    { label: "State", value: (a) => <Badge tone={a.status.provisioning.state === "succeeded" ? "ok" : a.status.provisioning.state === "failed" ? "danger" : "warn"}>{a.status.provisioning.state}</Badge> },
    { label: "Created", value: (a) => relTime(a.metadata.creationTime), serverSort: "creationTime" },
  ],
  fields: [
    { name: "principalType", label: "Principal type", kind: "select", required: true, choices: principalTypes },
    { name: "userID", label: "User", kind: "select", required: true, options: userOptions, showIf: (f) => f.principalType === "user" },
    { name: "groupID", label: "Group", kind: "select", required: true, options: groupOptions, showIf: (f) => f.principalType === "group" },
    { name: "serviceAccountID", label: "Service account", kind: "select", required: true, options: serviceAccountOptions, showIf: (f) => f.principalType === "serviceAccount" },
    {
      name: "permissionSetIDs",
      label: "Permission sets",
      kind: "checklist",
      // An offset-paged list: the first 100 by name (the API's largest page).
      options: async (ctx) =>
        named((await get<S["permissionSetPage"]>("/api/v1/organizations/{organizationID}/permissionsets", org(ctx), { size: 100, sort: "name" })).items),
    },
    { name: "projectIDs", label: "Projects", kind: "checklist", options: projectOptions },
  ],
  toForm: () => ({ principalType: "user", userID: "", groupID: "", serviceAccountID: "", permissionSetIDs: [], projectIDs: [] }),
  toWrite: (f) => ({
    principals: [{ type: f.principalType, id: f.principalType === "user" ? f.userID : f.principalType === "group" ? f.groupID : f.serviceAccountID }],
    permissionSetIDs: f.permissionSetIDs,
    targets: (f.projectIDs as string[]).map((id) => ({ type: "project", id })),
  }),
};

export const allocations: ResourceDef<S["allocationRead"]> = {
  ...base,
  id: "allocations",
  title: "Allocations",
  singular: "allocation",
  icon: "gauge",
  description: "What each project takes of the organization's quotas.",
  endpoint: "identity:allocations",
  scope: "org",
  paging: "token",
  list: "/api/v1/organizations/{organizationID}/allocations",
  create: "/api/v1/organizations/{organizationID}/projects/{projectID}/allocations",
  columns: [
    nameCol(),
    { label: "For", value: (a) => <span class="name-cell"><span>{a.spec.kind}</span><code class="id small">{a.spec.id}</code></span> },
    { label: "Resources", value: (a) => a.spec.allocations.map((x) => `${x.kind}: ${x.committed} committed, ${x.reserved} reserved`).join("; ") },
    createdCol(),
  ],
  fields: [
    nameField,
    { name: "projectID", label: "Project", kind: "select", required: true, options: projectOptions },
    { name: "kind", label: "Resource kind", kind: "text", required: true, hint: "A quota kind, e.g. the ones on the Quotas page." },
    { name: "committed", label: "Committed", kind: "number", required: true },
    { name: "reserved", label: "Reserved", kind: "number" },
  ],
  toForm: () => ({ name: "", projectID: "", kind: "", committed: 1, reserved: 0 }),
  createParams: (f) => ({ projectID: String(f.projectID) }),
  toWrite: (f) => ({
    metadata: metaWrite(f),
    spec: { kind: "project", id: f.projectID, allocations: [{ kind: f.kind, committed: Number(f.committed ?? 0), reserved: Number(f.reserved ?? 0) }] },
  }),
};

// OAuth2 clients: the applications that sign people in with Gatehouse. The
// secret is in the create and rotate answers only (stored hashed), so it is
// shown once like a service account's token.
const lines = (v: unknown) =>
  String(v ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
const grantChoices: Option[] = [
  { value: "authorization_code", label: "Authorization code", hint: "people sign in" },
  { value: "refresh_token", label: "Refresh token" },
  { value: "client_credentials", label: "Client credentials", hint: "the application itself; confidential only" },
  { value: "urn:ietf:params:oauth:grant-type:token-exchange", label: "Token exchange", hint: "confidential only" },
  { value: "urn:ietf:params:oauth:grant-type:device_code", label: "Device code", hint: "command-line tools and TVs; people approve on another device" },
];
const clientFields = (platform: boolean): FieldDef[] => [
  { name: "name", label: "Name", kind: "text", required: true, hint: "Shown to people on the consent page.", mono: false },
  ...(platform
    ? [{ name: "id", label: "Client ID", kind: "text", createOnly: true, mono: true, hint: "Leave empty to have one generated." } as FieldDef]
    : []),
  {
    name: "type",
    label: "Type",
    kind: "select",
    required: true,
    createOnly: true,
    choices: [
      { value: "confidential", label: "Confidential (a server that keeps a secret)" },
      { value: "public", label: "Public (a browser or mobile app; PKCE, no secret)" },
    ],
  },
  { name: "redirectURIs", label: "Redirect URIs", kind: "textarea", mono: true, hint: "One per line; matched exactly (https, or http on a loopback host).", placeholder: "https://app.example.com/callback" },
  { name: "postLogoutRedirectURIs", label: "Post-logout redirect URIs", kind: "textarea", mono: true, hint: "One per line." },
  { name: "grantTypes", label: "Grant types", kind: "checklist", choices: grantChoices },
  { name: "scopes", label: "Scopes", kind: "text", mono: true, hint: "Separated by spaces.", placeholder: "openid profile email" },
  { name: "requireConsent", label: "Ask people once to allow the application's scopes", kind: "checkbox" },
  { name: "backchannelLogoutURI", label: "Back-channel logout URI", kind: "text", mono: true, hint: "Optional: where logout tokens are posted." },
  {
    name: "idTokenSignedResponseAlg",
    label: "ID token algorithm",
    kind: "select",
    choices: [
      { value: "", label: "The server's default" },
      { value: "RS256", label: "RS256 (what most applications accept)" },
      { value: "ES256", label: "ES256" },
      { value: "ES512", label: "ES512" },
    ],
  },
  { name: "sessionPerDevice", label: "One session per device (a sign-in on a second device keeps the first)", kind: "checkbox" },
  { name: "requirePushedAuthorizationRequests", label: "Require pushed authorization requests (RFC 9126)", kind: "checkbox" },
];
// Only a confidential client authenticating with a secret has one to rotate.
const hasSecret = (c: S["oauth2ClientRead"]) => c.spec.type !== "public" && !String(c.spec.tokenEndpointAuthMethod ?? "").includes("tls");
const clientBase = {
  key: (c: S["oauth2ClientRead"]) => c.metadata.id,
  name: (c: S["oauth2ClientRead"]) => c.metadata.name,
  singular: "application",
  icon: "key",
  endpoint: "identity:oauth2clients",
  paging: "token" as const,
  idParam: "clientID",
  update: true,
  remove: true,
  columns: [
    { label: "Name", value: (c: S["oauth2ClientRead"]) => <span class="name">{c.metadata.name}</span>, sort: (c: S["oauth2ClientRead"]) => c.metadata.name.toLowerCase() },
    { label: "Client ID", value: (c: S["oauth2ClientRead"]) => <code class="id">{c.metadata.id}</code> },
    { label: "Type", value: (c: S["oauth2ClientRead"]) => <Badge tone={c.spec.type === "public" ? "neutral" : "accent"}>{c.spec.type ?? "confidential"}</Badge> },
    { label: "Redirect URIs", value: (c: S["oauth2ClientRead"]) => c.spec.redirectURIs?.length ?? 0 },
    {
      label: "Created",
      value: (c: S["oauth2ClientRead"]) => <time dateTime={c.metadata.creationTime} title={fmtTime(c.metadata.creationTime)}>{relTime(c.metadata.creationTime)}</time>,
      sort: (c: S["oauth2ClientRead"]) => c.metadata.creationTime,
    },
  ],
  toForm: (c?: S["oauth2ClientRead"]) => ({
    name: c?.metadata.name ?? "",
    id: "",
    type: c?.spec.type ?? "confidential",
    redirectURIs: (c?.spec.redirectURIs ?? []).join("\n"),
    postLogoutRedirectURIs: (c?.spec.postLogoutRedirectURIs ?? []).join("\n"),
    grantTypes: c?.spec.grantTypes ?? ["authorization_code", "refresh_token"],
    scopes: (c?.spec.scopes ?? ["openid", "profile", "email"]).join(" "),
    requireConsent: c?.spec.requireConsent ?? true,
    backchannelLogoutURI: c?.spec.backchannelLogoutURI ?? "",
    idTokenSignedResponseAlg: c?.spec.idTokenSignedResponseAlg ?? "",
    sessionPerDevice: c?.spec.sessionPerDevice ?? false,
    requirePushedAuthorizationRequests: c?.spec.requirePushedAuthorizationRequests ?? false,
  }),
  // An update sends the whole spec read (lifetimes, TLS settings) with the
  // form's fields over it, so that fields the form lacks are kept.
  toWrite: (f: Form, c?: S["oauth2ClientRead"]) => {
    const { type: _t, ...kept } = c?.spec ?? {};
    return {
      metadata: { name: String(f.name ?? "").trim(), ...(c ? { id: c.metadata.id } : f.id ? { id: String(f.id).trim() } : {}) },
      spec: {
        ...kept,
        ...(c ? {} : { type: f.type }),
        redirectURIs: lines(f.redirectURIs),
        postLogoutRedirectURIs: lines(f.postLogoutRedirectURIs),
        grantTypes: f.grantTypes,
        scopes: lines(f.scopes),
        requireConsent: !!f.requireConsent,
        ...(f.backchannelLogoutURI ? { backchannelLogoutURI: String(f.backchannelLogoutURI).trim() } : { backchannelLogoutURI: undefined }),
        idTokenSignedResponseAlg: f.idTokenSignedResponseAlg ? (f.idTokenSignedResponseAlg as "RS256" | "ES256" | "ES512") : undefined,
        sessionPerDevice: !!f.sessionPerDevice,
        requirePushedAuthorizationRequests: !!f.requirePushedAuthorizationRequests,
      },
    };
  },
  // The console's own client is registered by serve at every start: changing it here would not last.
  locked: (c: S["oauth2ClientRead"]) => (c.metadata.id === "gatehouse-console" ? "managed by serve" : undefined),
  secretOf: (c: S["oauth2ClientCreate"]) => c.status?.clientSecret,
  secretTitle: "Copy the application's client secret",
  emptyText: "Register an application to let it sign people in with Gatehouse (OpenID Connect).",
};

export const orgClients: ResourceDef<S["oauth2ClientRead"]> = {
  ...clientBase,
  id: "applications",
  title: "Applications",
  description:
    "OAuth2 clients of this organization: applications that sign its people in with Gatehouse. A confidential client's secret is shown once, at creation and at every rotation; rotating makes the old secret stop working at once.",
  scope: "org",
  list: "/api/v1/organizations/{organizationID}/oauth2clients",
  create: "/api/v1/organizations/{organizationID}/oauth2clients",
  item: "/api/v1/organizations/{organizationID}/oauth2clients/{clientID}",
  fields: clientFields(false),
  rowActions: [
    {
      label: "Rotate secret",
      op: "update",
      when: hasSecret,
      secretTitle: "Copy the new client secret",
      confirm: "Rotate the client secret? The current secret stops working at once.",
      run: async (c, ctx) =>
        (await post<S["oauth2ClientCreate"]>("/api/v1/organizations/{organizationID}/oauth2clients/{clientID}/rotatesecret", { organizationID: ctx.org, clientID: c.metadata.id })).status
          ?.clientSecret,
    },
  ],
};

export const platformClients: ResourceDef<S["oauth2ClientRead"]> = {
  ...clientBase,
  id: "applications",
  title: "Applications",
  description:
    "The platform's OAuth2 clients: applications anyone may sign in to (organizations' own applications are on their pages). A confidential client's secret is shown once, at creation and at every rotation.",
  scope: "global",
  list: "/api/v1/oauth2clients",
  create: "/api/v1/oauth2clients",
  item: "/api/v1/oauth2clients/{clientID}",
  fields: clientFields(true),
  rowActions: [
    {
      label: "Rotate secret",
      op: "update",
      when: hasSecret,
      secretTitle: "Copy the new client secret",
      confirm: "Rotate the client secret? The current secret stops working at once.",
      run: async (c) => (await post<S["oauth2ClientCreate"]>("/api/v1/oauth2clients/{clientID}/rotatesecret", { clientID: c.metadata.id })).status?.clientSecret,
    },
  ],
};

// The platform's local password accounts (/api/v1/localaccounts): people
// with a password Gatehouse keeps, owned by no organization. An invitation
// and a password reset are single-use links shown once; the administrator
// never sees or sets a password.
export const localAccounts: ResourceDef<S["localAccountRead"]> = {
  id: "localaccounts",
  title: "Local accounts",
  singular: "local account",
  icon: "user",
  description:
    "People who sign in with a password Gatehouse keeps, owned by the platform (an organization's own accounts are on its Users page). Invite someone and hand them the link; it works once, for seven days, and the account exists once they choose a password.",
  endpoint: "identity:users",
  scope: "global",
  paging: "token",
  list: "/api/v1/localaccounts",
  create: "/api/v1/localaccounts/invitation",
  item: "/api/v1/localaccounts/{email}",
  idParam: "email",
  remove: true,
  key: (a) => a.email,
  name: (a) => a.email,
  columns: [
    { label: "Email address", value: (a) => <span class="name">{a.email}</span>, sort: (a) => a.email },
    {
      label: "State",
      value: (a) => (a.locked ? <Badge tone="danger">locked until {fmtTime(a.lockedUntil)}</Badge> : <Badge tone="ok">active</Badge>),
      sort: (a) => (a.locked ? 1 : 0),
    },
    {
      label: "Password set",
      value: (a) => <time dateTime={a.passwordUpdatedAt} title={fmtTime(a.passwordUpdatedAt)}>{relTime(a.passwordUpdatedAt)}</time>,
      sort: (a) => a.passwordUpdatedAt,
    },
  ],
  fields: [{ name: "email", label: "Email address", kind: "text", required: true, placeholder: "person@example.com", hint: "They choose their password with the link; it grants no role until one is given." }],
  toForm: () => ({ email: "" }),
  toWrite: (f) => ({ email: String(f.email ?? "").trim() }),
  secretOf: (link: S["passwordLink"]) => link.url,
  secretTitle: "Copy the invitation link",
  createWords: { button: "Invite someone", submit: "Create invitation link", done: "Invitation link created" },
  emptyText: "Nobody has a platform local account yet. Invite someone to create one.",
  rowActions: [
    {
      label: "Reset password",
      op: "update",
      secretTitle: "Copy the password reset link",
      confirm: "Create a password reset link? The current password keeps working until the link is used; then every session it began ends.",
      run: async (a) => (await post<S["passwordLink"]>("/api/v1/localaccounts/passwordreset", {}, { email: a.email })).url,
    },
  ],
};
