// The pages that are more than a resource list: the organization's
// overview, the audit log, the guardrail, quotas, cloud identities (per
// project), cloud connections (with validation), identity providers (with
// the domain's verification state).
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { can, canAnyProject, isPlatformAdmin } from "./acl";
import { cloudErrorWords, describe, get, getAll, post, put, request, type S } from "./api/client";
import { PolicyEditor, Simulator } from "./policy";
import { ResourcePage, type Form } from "./resource";
import * as R from "./resources";
import { connectionCredential } from "./resources";
import { Link } from "./router";
import { Badge, Button, Card, CopyButton, Dialog, Empty, ErrorBox, Field, Icon, Notice, PageHeader, Spinner, fmtTime, relTime, toast, useLoad } from "./ui";

function Stat({ label, value, href }: { label: string; value: ComponentChildren; href?: string }) {
  const body = (
    <>
      <span class="stat-value">{value}</span>
      <span class="stat-label">{label}</span>
    </>
  );
  return href ? (
    <Link href={href} class="stat stat-link">
      {body}
    </Link>
  ) : (
    <div class="stat">{body}</div>
  );
}

function QuotaBar({ q }: { q: S["quotaRead"] }) {
  const pct = q.quantity > 0 ? Math.min(100, Math.round((q.used / q.quantity) * 100)) : 0;
  return (
    <div class="quota">
      <div class="quota-head">
        <span>{q.displayName}</span>
        <span class="muted">
          {q.used} / {q.quantity}
        </span>
      </div>
      <progress class={pct > 90 ? "bar bar-hot" : "bar"} max={q.quantity || 1} value={q.used} aria-label={`${q.displayName}: ${q.used} of ${q.quantity} used`} />
    </div>
  );
}

export function Overview({ org }: { org: string }) {
  const p = { organizationID: org };
  const o = useLoad(() => get<S["organizationRead"]>("/api/v1/organizations/{organizationID}", p), [org]);
  const counts = useLoad(async () => {
    const count = async (path: Parameters<typeof getAll>[0], endpoint: string) => (can(endpoint, "read") ? (await getAll(path, p)).length : undefined);
    const [users, groups, projects, sas] = await Promise.all([
      count("/api/v1/organizations/{organizationID}/users", "identity:users"),
      count("/api/v1/organizations/{organizationID}/groups", "identity:groups"),
      count("/api/v1/organizations/{organizationID}/projects", "identity:projects"),
      count("/api/v1/organizations/{organizationID}/serviceaccounts", "identity:serviceaccounts"),
    ]);
    return { users, groups, projects, sas };
  }, [org]);
  const quotas = useLoad(() => (can("identity:quotas", "read") ? get<S["quotasRead"]>("/api/v1/organizations/{organizationID}/quotas", p) : Promise.resolve(undefined)), [org]);
  const events = useLoad(
    () => (can("identity:auditevents", "read") ? get<S["auditEvents"]>("/api/v1/organizations/{organizationID}/auditevents", p, { limit: 8 }) : Promise.resolve(undefined)),
    [org],
  );
  const base = `/console/orgs/${org}`;
  return (
    <div class="stack">
      <PageHeader title={o.data?.metadata.name ?? "Organization"} description={o.data?.metadata.description || "An overview of the organization: its members, projects, quota use and latest changes."} />
      {o.error && <ErrorBox message={o.error} />}
      <div class="stats">
        {counts.data?.users !== undefined && <Stat label="Users" value={counts.data.users} href={`${base}/users`} />}
        {counts.data?.groups !== undefined && <Stat label="Groups" value={counts.data.groups} href={`${base}/groups`} />}
        {counts.data?.projects !== undefined && <Stat label="Projects" value={counts.data.projects} href={`${base}/projects`} />}
        {counts.data?.sas !== undefined && <Stat label="Service accounts" value={counts.data.sas} href={`${base}/serviceaccounts`} />}
        {!counts.data && !counts.error && <Spinner />}
      </div>
      <div class="grid-2">
        {o.data && <DomainCard org={o.data} onChange={o.reload} />}
        {quotas.data && (
          <Card title="Quota use" id="quota-title" actions={<Link href={`${base}/quotas`}>All quotas</Link>}>
            {quotas.data.quotas.length === 0 ? <p class="muted">No quotas.</p> : quotas.data.quotas.slice(0, 5).map((q) => <QuotaBar q={q} />)}
          </Card>
        )}
      </div>
      {events.data && (
        <Card title="Recent changes" id="recent-title" actions={<Link href={`${base}/audit`}>Audit log</Link>}>
          {events.data.length === 0 ? <p class="muted">Nothing has changed yet.</p> : <EventList events={events.data} compact />}
        </Card>
      )}
    </div>
  );
}

function DomainCard({ org, onChange }: { org: S["organizationRead"]; onChange: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const v = org.status?.domainVerification;
  const verify = async (markVerified: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      await post("/api/v1/organizations/{organizationID}/domain/verify", { organizationID: org.metadata.id }, markVerified ? { markVerified } : {});
      toast("Domain verified");
      onChange();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Sign-in" id="signin-title">
      <dl class="props">
        <dt>Type</dt>
        <dd>{org.spec.organizationType === "domain" ? "Domain" : "Ad hoc"}</dd>
        <dt>Domain</dt>
        <dd>{org.spec.domain ? <code>{org.spec.domain}</code> : "none"}</dd>
        {v && (
          <>
            <dt>Verification</dt>
            <dd>
              <Badge tone={v.state === "verified" ? "ok" : "warn"}>{v.state}</Badge> {v.verifiedAt && <span class="muted small">{fmtTime(v.verifiedAt)}</span>}
            </dd>
          </>
        )}
      </dl>
      {v && v.state !== "verified" && (
        <>
          <p class="small">Publish this DNS TXT record, then verify:</p>
          <div class="secret">
            <code class="secret-value">
              {v.recordName} TXT "{v.recordValue}"
            </code>
            <CopyButton value={v.recordValue} label="Copy value" />
          </div>
          {error && <ErrorBox message={error} />}
          {can("identity:organizations", "update") && (
            <div class="row-end">
              {isPlatformAdmin() && (
                <Button busy={busy} onClick={() => verify(true)}>
                  Mark verified
                </Button>
              )}
              <Button variant="primary" busy={busy} onClick={() => verify(false)}>
                Verify domain
              </Button>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

function EventList({ events, compact }: { events: S["auditEventRead"][]; compact?: boolean }) {
  return (
    <ul class={compact ? "events events-compact" : "events"}>
      {events.map((e) => (
        <li class="event" key={e.id}>
          <div class="event-main">
            <span class="event-op">{e.operationId}</span>
            <span class="muted">
              {e.resource.type} <code class="id">{e.resource.id}</code>
            </span>
          </div>
          <div class="event-meta">
            <span title={e.actor.kind}>{e.actor.subject}</span>
            <time dateTime={e.time} title={fmtTime(e.time)}>
              {relTime(e.time)}
            </time>
          </div>
          {!compact && (e.before || e.after) && (
            <details class="event-diff">
              <summary>Changes</summary>
              <div class="diff">
                {e.before && (
                  <div>
                    <p class="small muted">Before</p>
                    <pre>{JSON.stringify(e.before, null, 2)}</pre>
                  </div>
                )}
                {e.after && (
                  <div>
                    <p class="small muted">After</p>
                    <pre>{JSON.stringify(e.after, null, 2)}</pre>
                  </div>
                )}
              </div>
            </details>
          )}
        </li>
      ))}
    </ul>
  );
}

/** AuditLog: every write, with filters; org "" is the platform-wide log. */
export function AuditLog({ org }: { org?: string }) {
  const [f, setF] = useState({ resourceType: "", actor: "", since: "", until: "" });
  const [applied, setApplied] = useState(f);
  const [events, setEvents] = useState<S["auditEventRead"][] | null>(null);
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<string>();
  const query = (pageToken?: string) => ({
    limit: 50,
    pageToken,
    resourceType: applied.resourceType,
    actor: applied.actor,
    since: applied.since ? new Date(applied.since).toISOString() : undefined,
    until: applied.until ? new Date(applied.until).toISOString() : undefined,
  });
  const load = async (pageToken?: string) => {
    const a = org
      ? await request<S["auditEvents"]>("GET", "/api/v1/organizations/{organizationID}/auditevents", { organizationID: org }, { query: query(pageToken) })
      : await request<S["auditEvents"]>("GET", "/api/v1/auditevents", {}, { query: query(pageToken) });
    setNext(a.headers.get("X-Next-Page-Token") || undefined);
    return a.data ?? [];
  };
  useEffect(() => {
    setEvents(null);
    setError(undefined);
    load().then(setEvents, (e) => setError(describe(e)));
  }, [org, JSON.stringify(applied)]);
  return (
    <div class="stack">
      <PageHeader title="Audit log" description={org ? "Every change made in this organization: who, what, when, before and after." : "Every change made on this Gatehouse, in every organization."} />
      <form
        class="toolbar filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(f);
        }}
      >
        {(
          [
            ["resourceType", "Resource type", "text"],
            ["actor", "Actor", "text"],
            ["since", "Since", "datetime-local"],
            ["until", "Until", "datetime-local"],
          ] as const
        ).map(([k, label, type]) => (
          <label class="filter" key={k}>
            <span>{label}</span>
            <input class="input input-sm" type={type as "text"} value={f[k]} onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })} />
          </label>
        ))}
        <Button type="submit" size="sm">
          Apply filters
        </Button>
      </form>
      {error && <ErrorBox message={error} title="Could not load the audit log" />}
      {!events && !error && <Spinner label="Loading events" />}
      {events && events.length === 0 && <Empty title="No events match" />}
      {events && events.length > 0 && (
        <Card>
          <EventList events={events} />
        </Card>
      )}
      {next && (
        <div class="row-center">
          <Button onClick={async () => setEvents([...(events ?? []), ...(await load(next))])}>Load more</Button>
        </div>
      )}
    </div>
  );
}

export function Guardrail({ org }: { org: string }) {
  const p = { organizationID: org };
  const g = useLoad(() => get<S["iamPolicy"]>("/api/v1/organizations/{organizationID}/policy", p), [org]);
  const editable = can("identity:policies", "update");
  return (
    <div class="stack">
      <PageHeader title="Guardrail" description="The organization's policy applies to every member on top of their roles: what it denies, no role can allow. Platform administrators are not bound by it." />
      {g.error && <ErrorBox message={g.error} />}
      {!g.data && !g.error && <Spinner />}
      {g.data && (
        <Card>
          {!editable && <Notice>You may read the guardrail but not change it.</Notice>}
          <PolicyEditor
            org={org}
            value={g.data}
            readOnly={!editable}
            saveLabel="Save guardrail"
            onSave={async (pol) => {
              await put("/api/v1/organizations/{organizationID}/policy", p, pol);
              toast("Guardrail saved");
              g.reload();
            }}
          />
        </Card>
      )}
    </div>
  );
}

export function SimulatorPage({ org }: { org: string }) {
  return (
    <div class="stack">
      <PageHeader title="Policy simulator" description="May this principal do this operation on this project, and which rule decided? Decided exactly as enforcement would: guardrail, roles, permission sets." />
      <Card>
        <Simulator org={org} />
      </Card>
    </div>
  );
}

export function Quotas({ org }: { org: string }) {
  const p = { organizationID: org };
  const q = useLoad(() => get<S["quotasRead"]>("/api/v1/organizations/{organizationID}/quotas", p), [org]);
  const [edit, setEdit] = useState<Form | null>(null);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const mayEdit = can("identity:quotas", "update");
  return (
    <div class="stack">
      <PageHeader
        title="Quotas and allocations"
        description="How much of each resource the organization may use, and what each project has allocated of it."
        actions={
          mayEdit &&
          q.data && (
            <Button variant="primary" onClick={() => setEdit(Object.fromEntries(q.data!.quotas.map((x) => [x.kind, x.quantity])))}>
              Edit quotas
            </Button>
          )
        }
      />
      {q.error && <ErrorBox message={q.error} />}
      {q.data && (
        <Card title="Quotas" id="quotas-title">
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Resource</th>
                  <th scope="col">Use</th>
                  <th scope="col">Used</th>
                  <th scope="col">Committed</th>
                  <th scope="col">Reserved</th>
                  <th scope="col">Free</th>
                  <th scope="col">Quota</th>
                </tr>
              </thead>
              <tbody>
                {q.data.quotas.map((x) => (
                  <tr key={x.kind}>
                    <td>
                      <span class="name-cell">
                        <span class="name">{x.displayName}</span>
                        <span class="muted small">{x.description}</span>
                      </span>
                    </td>
                    <td class="bar-cell">
                      <progress class="bar" max={x.quantity || 1} value={x.used} aria-label={`${x.displayName} use`} />
                    </td>
                    <td>{x.used}</td>
                    <td>{x.committed}</td>
                    <td>{x.reserved}</td>
                    <td>{x.free}</td>
                    <td>
                      {x.quantity}
                      {x.quantity !== x.default && <span class="muted small"> (default {x.default})</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      )}
      {can("identity:allocations", "read") && (
        <section aria-labelledby="alloc-title" class="stack">
          <h2 id="alloc-title" class="section-title">
            Allocations
          </h2>
          <ResourcePage def={R.allocations} ctx={{ org }} header={false} />
        </section>
      )}
      {edit && (
        <Dialog
          open
          title="Edit quotas"
          onClose={() => setEdit(null)}
          footer={
            <>
              <Button onClick={() => setEdit(null)}>Cancel</Button>
              <Button variant="primary" type="submit" form="quota-form" busy={busy}>
                Save quotas
              </Button>
            </>
          }
        >
          <form
            id="quota-form"
            class="form"
            onSubmit={async (e) => {
              e.preventDefault();
              setBusy(true);
              setError(undefined);
              try {
                await put("/api/v1/organizations/{organizationID}/quotas", p, { quotas: Object.entries(edit).map(([kind, quantity]) => ({ kind, quantity: Number(quantity) })) });
                toast("Quotas saved");
                setEdit(null);
                q.reload();
              } catch (err) {
                setError(describe(err));
              } finally {
                setBusy(false);
              }
            }}
          >
            {error && <ErrorBox message={error} />}
            {q.data!.quotas.map((x) => (
              <Field label={x.displayName} hint={`In use: ${x.used}. Default: ${x.default}.`}>
                {(id, by) => <input id={id} aria-describedby={by} class="input" type="number" min={0} value={String(edit[x.kind] ?? "")} onInput={(e) => setEdit({ ...edit, [x.kind]: e.currentTarget.value })} />}
              </Field>
            ))}
          </form>
        </Dialog>
      )}
    </div>
  );
}

export function CloudIdentities({ org }: { org: string }) {
  const projects = useLoad(() => getAll<S["projectRead"]>("/api/v1/organizations/{organizationID}/projects", { organizationID: org }), [org]);
  const [project, setProject] = useState("");
  useEffect(() => {
    if (!project && projects.data?.length) setProject(projects.data[0].metadata.id);
  }, [projects.data]);
  return (
    <div class="stack">
      <PageHeader title={R.cloudIdentities.title} description={R.cloudIdentities.description} />
      {projects.error && <ErrorBox message={projects.error} />}
      {projects.data && projects.data.length === 0 && <Empty title="No projects yet">Cloud identities belong to a project: create a project first.</Empty>}
      {projects.data && projects.data.length > 0 && (
        <>
          <label class="filter">
            <span>Project</span>
            <select class="input input-sm" value={project} onChange={(e) => setProject(e.currentTarget.value)}>
              {projects.data.map((p) => (
                <option value={p.metadata.id}>{p.metadata.name}</option>
              ))}
            </select>
          </label>
          {project && <ResourcePage key={project} def={R.cloudIdentities} ctx={{ org, project }} header={false} />}
        </>
      )}
    </div>
  );
}

export function CloudConnections({ org }: { org: string }) {
  const [open, setOpen] = useState(false);
  return (
    <div class="stack">
      <PageHeader
        title={R.cloudConnections.title}
        description={R.cloudConnections.description}
        actions={
          can("identity:cloudconnections", "create") && (
            <Button onClick={() => setOpen(true)}>
              <Icon name="check" />
              Validate a credential
            </Button>
          )
        }
      />
      <ResourcePage def={R.cloudConnections} ctx={{ org }} header={false} />
      {open && <ValidateDialog org={org} onClose={() => setOpen(false)} />}
    </div>
  );
}

function ValidateDialog({ org, onClose }: { org: string; onClose: () => void }) {
  const [f, setF] = useState<Form>({ credentialType: "storedCredential", credentialID: "", roleARN: "", projectID: "", cloudIdentityID: "" });
  const creds = useLoad(() => getAll<S["credentialRead"]>("/api/v1/organizations/{organizationID}/credentials", { organizationID: org }).catch(() => []), [org]);
  const [result, setResult] = useState<S["cloudConnectionValidation"] | null>(null);
  const [error, setError] = useState<{ words?: string; description: string } | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog open title="Validate a credential" onClose={onClose} footer={<Button onClick={onClose}>Close</Button>}>
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          setResult(null);
          try {
            setResult(await post<S["cloudConnectionValidation"]>("/api/v1/organizations/{organizationID}/cloudconnections/validate", { organizationID: org }, { provider: "aws", credential: connectionCredential(f) }));
          } catch (err) {
            const t = (err as { errorType?: string }).errorType;
            setError({ words: t ? cloudErrorWords[t] : undefined, description: (err as { description?: string }).description ?? describe(err) });
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Credential">
          {(id) => (
            <select id={id} class="input" value={String(f.credentialType)} onChange={(e) => setF({ ...f, credentialType: e.currentTarget.value })}>
              <option value="storedCredential">A credential of the credential store</option>
              <option value="assumeRole">A role Gatehouse assumes</option>
              <option value="federated">An AWS cloud identity of a project</option>
              <option value="ambientRole">Gatehouse's ambient AWS identity</option>
            </select>
          )}
        </Field>
        {f.credentialType === "storedCredential" && (
          <Field label="Stored credential">
            {(id) => (
              <select id={id} class="input" value={String(f.credentialID)} onChange={(e) => setF({ ...f, credentialID: e.currentTarget.value })}>
                <option value="">Choose…</option>
                {(creds.data ?? []).map((c) => (
                  <option value={c.metadata.id}>{c.metadata.name}</option>
                ))}
              </select>
            )}
          </Field>
        )}
        {f.credentialType === "assumeRole" && <Field label="Role ARN">{(id) => <input id={id} class="input mono" value={String(f.roleARN)} onInput={(e) => setF({ ...f, roleARN: e.currentTarget.value })} />}</Field>}
        <div class="row-end">
          <Button type="submit" variant="primary" busy={busy}>
            Validate
          </Button>
        </div>
      </form>
      {result && (
        <Notice kind="ok">
          <strong>The credential works.</strong> AWS organization <code>{result.organization.organizationID}</code>, management account {result.organization.managementAccountID} ({result.organization.managementAccountEmail}).
        </Notice>
      )}
      {error && <ErrorBox title={error.words ?? "The validation failed"} message={error.description} />}
    </Dialog>
  );
}

export function OrgProviders({ org }: { org: string }) {
  const o = useLoad(() => get<S["organizationRead"]>("/api/v1/organizations/{organizationID}", { organizationID: org }), [org]);
  const v = o.data?.status?.domainVerification;
  return (
    <div class="stack">
      <PageHeader title={R.orgProviders.title} description={R.orgProviders.description} />
      {o.data?.spec.domain && v && (
        <Notice kind={v.state === "verified" ? "ok" : "warn"}>
          Domain <code>{o.data.spec.domain}</code> is <strong>{v.state}</strong>
          {v.state !== "verified" && (
            <>
              : publish <code>{v.recordName}</code> TXT <code>{v.recordValue}</code> and verify it on the <Link href={`/console/orgs/${org}`}>overview</Link>. Until then, its logins are not routed here.
            </>
          )}
        </Notice>
      )}
      <ResourcePage def={R.orgProviders} ctx={{ org }} header={false} />
    </div>
  );
}

/** Account: the signed-in person. Sections are a list, so that sessions, password change and multi-factor enrolment slot in as they get an API. */
export function NoAccess({ what }: { what: string }) {
  return <Empty title="Nothing to see here">You do not have access to {what}. Ask an administrator of the organization if you need it.</Empty>;
}

export { canAnyProject };
