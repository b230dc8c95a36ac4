// The policy editor (custom roles and the organization's guardrail) and the
// simulator. The editor sends the draft to /policy/evaluate as a what-if
// role while you type: the server compiles every CEL expression and answers
// its compile errors, which are shown under the editor (the same compiler
// that will enforce the policy, so no client-side copy can disagree).
import { useEffect, useState } from "preact/hooks";
import { can } from "./acl";
import { ApiError, describe, get, getAll, post, put, type S } from "./api/client";
import { serviceAccountOptions, userOptions } from "./resources";
import type { Option } from "./resource";
import { Badge, Button, Card, ErrorBox, Field, Icon, Notice, Spinner, toast } from "./ui";

type Policy = S["iamPolicy"];
type Rule = S["iamPolicyRule"];

export function PolicyEditor({ org, value, onSave, readOnly, saveLabel = "Save policy" }: { org: string; value: Policy; onSave?: (p: Policy) => Promise<void>; readOnly?: boolean; saveLabel?: string }) {
  const [p, setP] = useState<Policy>(value);
  const [check, setCheck] = useState<{ state: "idle" | "checking" | "ok" | "error"; message?: string }>({ state: "idle" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [newService, setNewService] = useState("");
  const [catalogue, setCatalogue] = useState<string[]>([]);
  useEffect(() => setP(value), [value]);
  useEffect(() => {
    if (!readOnly) getAll<S["operationRead"]>("/api/v1/operations").then((ops) => setCatalogue([...new Set(ops.map((o) => o.service))].sort()), () => setCatalogue([]));
  }, [readOnly]);

  // Compile on the server as you type (debounced).
  useEffect(() => {
    if (readOnly) return;
    setCheck({ state: "checking" });
    const t = setTimeout(async () => {
      try {
        await post("/api/v1/organizations/{organizationID}/policy/evaluate", { organizationID: org }, {
          service: "identity",
          operation: "getOrganization",
          roles: [{ name: "draft", policy: p }],
        });
        setCheck({ state: "ok" });
      } catch (e) {
        setCheck({ state: "error", message: e instanceof ApiError ? e.description : describe(e) });
      }
    }, 350);
    return () => clearTimeout(t);
  }, [JSON.stringify(p)]);

  const services = Object.entries(p.services ?? {});
  const setService = (name: string, sp: S["iamServicePolicy"] | null) => {
    const next = { ...(p.services ?? {}) };
    if (sp) next[name] = sp;
    else delete next[name];
    setP({ ...p, services: next });
  };

  return (
    <div class="policy">
      <div class="policy-head">
        <Field label="Services not listed below are">
          {(id) => (
            <select id={id} class="input" disabled={readOnly} value={p.defaultServiceStrategy} onChange={(e) => setP({ ...p, defaultServiceStrategy: e.currentTarget.value as Policy["defaultServiceStrategy"] })}>
              <option value="allow">allowed</option>
              <option value="deny">denied</option>
            </select>
          )}
        </Field>
        {!readOnly && (
          <div class="policy-status" aria-live="polite" data-testid="policy-status">
            {check.state === "checking" && <Spinner label="Checking" />}
            {check.state === "ok" && <Badge tone="ok">Compiles</Badge>}
          </div>
        )}
      </div>
      {check.state === "error" && (
        <div class="alert alert-error" role="alert" data-testid="policy-error">
          <Icon name="alert" />
          <div>
            <strong>The server does not accept this policy</strong>
            <pre class="compile-error">{check.message}</pre>
          </div>
        </div>
      )}
      {services.length === 0 && <p class="muted">No service is listed: every request follows the default above.</p>}
      {services.map(([name, sp]) => (
        <fieldset class="service" key={name}>
          <legend>
            Service <code>{name}</code>
          </legend>
          <div class="service-row">
            <label class="filter">
              <span>Requests are</span>
              <select class="input input-sm" disabled={readOnly} value={sp.type} onChange={(e) => setService(name, { ...sp, type: e.currentTarget.value as S["iamServicePolicy"]["type"], rules: e.currentTarget.value === "rules" ? sp.rules ?? [] : undefined })}>
                <option value="allow">allowed</option>
                <option value="deny">denied</option>
                <option value="rules">decided by rules</option>
              </select>
            </label>
            {!readOnly && (
              <Button size="sm" variant="ghost" class="text-danger" onClick={() => setService(name, null)} aria-label={`Remove service ${name}`}>
                Remove service
              </Button>
            )}
          </div>
          {sp.type === "rules" && (
            <ol class="rules">
              {(sp.rules ?? []).map((r: Rule, i: number) => (
                <li class="rule" key={i}>
                  <select class="input input-sm" aria-label={`Rule ${i + 1} action`} disabled={readOnly} value={r.action} onChange={(e) => setService(name, { ...sp, rules: sp.rules!.map((x, j) => (j === i ? { ...x, action: e.currentTarget.value as Rule["action"] } : x)) })}>
                    <option value="allow">allow</option>
                    <option value="deny">deny</option>
                  </select>
                  <span class="muted">when</span>
                  <textarea
                    class="input mono expr"
                    rows={1}
                    aria-label={`Rule ${i + 1} CEL expression`}
                    spellcheck={false}
                    readOnly={readOnly}
                    value={r.expression}
                    onInput={(e) => setService(name, { ...sp, rules: sp.rules!.map((x, j) => (j === i ? { ...x, expression: e.currentTarget.value } : x)) })}
                  />
                  {!readOnly && (
                    <button type="button" class="icon-btn" aria-label={`Remove rule ${i + 1}`} onClick={() => setService(name, { ...sp, rules: sp.rules!.filter((_, j) => j !== i) })}>
                      <Icon name="x" />
                    </button>
                  )}
                </li>
              ))}
              {!readOnly && (
                <li>
                  <Button size="sm" onClick={() => setService(name, { ...sp, rules: [...(sp.rules ?? []), { action: "allow", expression: "" }] })}>
                    <Icon name="plus" />
                    Add rule
                  </Button>
                </li>
              )}
            </ol>
          )}
        </fieldset>
      ))}
      {!readOnly && (
        <form
          class="add-service"
          onSubmit={(e) => {
            e.preventDefault();
            const n = newService.trim();
            if (!n || p.services?.[n]) return;
            setService(n, { type: "rules", rules: [{ action: "allow", expression: "" }] });
            setNewService("");
          }}
        >
          <Field label="Add a service" hint="Services are the resource families of the operation catalogue.">
            {(id, by) => (
              <select id={id} aria-describedby={by} class="input" value={newService} onChange={(e) => setNewService(e.currentTarget.value)}>
                <option value="">Choose a service…</option>
                {catalogue
                  .filter((x) => !p.services?.[x])
                  .map((x) => (
                    <option value={x}>{x}</option>
                  ))}
              </select>
            )}
          </Field>
          <Button type="submit" disabled={!newService}>
            Add service
          </Button>
        </form>
      )}
      <details class="help">
        <summary>What can an expression use?</summary>
        <p>
          CEL over <code>service</code>, <code>operation</code>, <code>now</code>, <code>sourceIP</code> (with <code>inIpRange</code>), <code>principal</code> (<code>type</code>, <code>id</code>, <code>email</code>,{" "}
          <code>groupIDs</code>), <code>organization</code>, <code>project</code>, <code>parameters</code> and <code>resources</code>. Example: <code>operation.startsWith("get") &amp;&amp; inIpRange(sourceIP, "10.0.0.0/8")</code>.
        </p>
      </details>
      {error && <ErrorBox message={error} />}
      {!readOnly && onSave && (
        <div class="row-end">
          <Button
            variant="primary"
            busy={busy}
            disabled={check.state === "error"}
            onClick={async () => {
              setBusy(true);
              setError(undefined);
              try {
                await onSave(p);
              } catch (e) {
                setError(describe(e));
              } finally {
                setBusy(false);
              }
            }}
          >
            {saveLabel}
          </Button>
        </div>
      )}
    </div>
  );
}

const principalKinds = [
  { value: "user", label: "User" },
  { value: "serviceAccount", label: "Service account" },
];

/** Simulator: may this principal do this operation on this project, and which rule decided. */
export function Simulator({ org }: { org: string }) {
  const [ops, setOps] = useState<S["operationRead"][] | null>(null);
  const [kind, setKind] = useState("user");
  const [principals, setPrincipals] = useState<Option[]>([]);
  const [principal, setPrincipal] = useState("");
  const [operation, setOperation] = useState("");
  const [projects, setProjects] = useState<Option[]>([]);
  const [project, setProject] = useState("");
  const [result, setResult] = useState<S["policyDecision"] | null>(null);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const ctx = { org };
  useEffect(() => {
    getAll<S["operationRead"]>("/api/v1/operations").then(setOps, (e) => setError(describe(e)));
    getAll<S["projectRead"]>("/api/v1/organizations/{organizationID}/projects", { organizationID: org }).then(
      (l) => setProjects(l.map((p) => ({ value: p.metadata.id, label: p.metadata.name }))),
      () => setProjects([]),
    );
  }, [org]);
  useEffect(() => {
    setPrincipal("");
    (kind === "user" ? userOptions(ctx) : serviceAccountOptions(ctx)).then(setPrincipals, () => setPrincipals([]));
  }, [kind, org]);
  const op = ops?.find((o) => o.operationId === operation);
  return (
    <div class="sim">
      <form
        class="form sim-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!op || !principal) return;
          setBusy(true);
          setError(undefined);
          setResult(null);
          try {
            setResult(
              await post<S["policyDecision"]>("/api/v1/organizations/{organizationID}/policy/evaluate", { organizationID: org }, {
                service: op.service,
                operation: op.operation,
                principal: { type: kind, id: principal },
                ...(project ? { project } : {}),
              }),
            );
          } catch (err) {
            setError(describe(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="Principal type">
          {(id) => (
            <select id={id} class="input" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
              {principalKinds.map((k) => (
                <option value={k.value}>{k.label}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Principal" required>
          {(id) => (
            <select id={id} class="input" value={principal} onChange={(e) => setPrincipal(e.currentTarget.value)}>
              <option value="">Choose…</option>
              {principals.map((o) => (
                <option value={o.value}>{o.label}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Operation" required>
          {(id) => (
            <select id={id} class="input" value={operation} onChange={(e) => setOperation(e.currentTarget.value)}>
              <option value="">{ops ? "Choose…" : "Loading…"}</option>
              {(ops ?? []).map((o) => (
                <option value={o.operationId}>
                  {o.operationId} ({o.endpoint.replace("identity:", "")} {o.crudOperation})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Project" hint="For project-scoped operations.">
          {(id, by) => (
            <select id={id} aria-describedby={by} class="input" value={project} onChange={(e) => setProject(e.currentTarget.value)}>
              <option value="">None</option>
              {projects.map((o) => (
                <option value={o.value}>{o.label}</option>
              ))}
            </select>
          )}
        </Field>
        <div class="row-end">
          <Button type="submit" variant="primary" busy={busy} disabled={!op || !principal}>
            <Icon name="play" />
            Evaluate
          </Button>
        </div>
      </form>
      {error && <ErrorBox message={error} />}
      {result && (
        <div class={`decision ${result.allowed ? "decision-allow" : "decision-deny"}`} role="status" data-testid="decision">
          <div class="decision-verdict">
            <Icon name={result.allowed ? "check" : "x"} />
            <strong>{result.allowed ? "Allowed" : "Denied"}</strong>
          </div>
          <dl class="props">
            <dt>Decided by</dt>
            <dd>{result.decidedBy ?? "—"}</dd>
            <dt>Policy</dt>
            <dd>{result.policy || "—"}</dd>
            <dt>Service entry</dt>
            <dd>{result.service || "default strategy"}</dd>
            <dt>Rule</dt>
            <dd>{result.ruleIndex >= 0 ? `#${result.ruleIndex + 1}` : "none"}</dd>
            <dt>Reason</dt>
            <dd>{result.reason}</dd>
          </dl>
        </div>
      )}
    </div>
  );
}

/** RolePage: a role's properties and, for custom roles, its policy. */
export function RolePage({ org, id }: { org: string; id: string }) {
  const [role, setRole] = useState<S["roleRead"] | null>(null);
  const [error, setError] = useState<string>();
  const load = () => get<S["roleRead"]>("/api/v1/organizations/{organizationID}/roles/{roleID}", { organizationID: org, roleID: id }).then(setRole, (e) => setError(describe(e)));
  useEffect(() => void load(), [org, id]);
  if (error) return <ErrorBox message={error} title="Could not load the role" />;
  if (!role) return <Spinner label="Loading the role" />;
  const builtin = !!role.status?.builtin;
  const editable = !builtin && !!role.status?.editable && can("identity:roles", "update");
  return (
    <div class="stack">
      <header class="page-head">
        <div>
          <h1>
            {role.metadata.name} {builtin ? <Badge>system</Badge> : <Badge tone="accent">custom</Badge>}
          </h1>
          {role.metadata.description && <p class="page-desc">{role.metadata.description}</p>}
        </div>
      </header>
      {builtin ? (
        <Notice>System roles are built in and cannot change. Their permissions are listed in docs/RBAC.md; use the simulator to see what they allow.</Notice>
      ) : (
        <Card title="Policy" id="policy-title">
          {!editable && <Notice>{role.status?.editable ? "You may read this policy but not change it." : "This role's policy was fixed when it was created."}</Notice>}
          <PolicyEditor
            org={org}
            readOnly={!editable}
            value={role.spec?.policy ?? { defaultServiceStrategy: "deny", services: {} }}
            onSave={async (p) => {
              setRole(await put<S["roleRead"]>("/api/v1/organizations/{organizationID}/roles/{roleID}/policy", { organizationID: org, roleID: id }, p));
              toast(`Policy of ${role.metadata.name} saved`);
            }}
          />
        </Card>
      )}
      <Card title="Details" id="details-title">
        <dl class="props">
          <dt>ID</dt>
          <dd>
            <code>{role.metadata.id}</code>
          </dd>
          <dt>Version</dt>
          <dd>{role.status?.version ?? 0}</dd>
          <dt>Created</dt>
          <dd>{role.metadata.creationTime}</dd>
        </dl>
      </Card>
    </div>
  );
}
