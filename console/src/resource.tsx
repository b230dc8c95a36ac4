// The declarative resource framework: a resource is described once (its
// API paths, ACL endpoint, columns and form fields, see resources.tsx), and
// ResourcePage gives it a list (filter, sorting, paging: the API's page
// tokens or its server-side page/size/sort), a create and edit form, and
// deletion with confirmation. The ACL decides which of these are offered.
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { can, canGlobal, canInProject, type Op } from "./acl";
import { describe, request, type ApiPath } from "./api/client";
import { Link } from "./router";
import { Badge, Button, CheckList, Confirm, Dialog, Empty, ErrorBox, Field, Icon, PageHeader, SecretDialog, Spinner, toast } from "./ui";

export interface Ctx {
  org: string;
  project?: string;
}
export type Form = Record<string, unknown>;
export interface Option {
  value: string;
  label: string;
  hint?: string;
}

export interface FieldDef {
  name: string;
  label: string;
  kind: "text" | "textarea" | "select" | "checklist" | "number" | "checkbox" | "datetime" | "secret";
  required?: boolean;
  hint?: string;
  placeholder?: string;
  choices?: Option[];
  options?: (ctx: Ctx) => Promise<Option[]>;
  /** Only when creating (fixed afterwards). */
  createOnly?: boolean;
  showIf?: (f: Form) => boolean;
  mono?: boolean;
}

export interface Column<R> {
  label: string;
  value: (r: R) => ComponentChildren;
  /** Client-side sort key (token-paged lists). */
  sort?: (r: R) => string | number;
  /** The API's sort field (offset-paged lists). */
  serverSort?: string;
}

export interface RowAction<R> {
  label: string;
  op: Op;
  /** Whether the row has the action at all (a public client has no secret to rotate). */
  when?: (r: R) => boolean;
  /** The ACL endpoint deciding the action, when not the resource's. */
  endpoint?: string;
  run?: (r: R, ctx: Ctx) => Promise<string | void>;
  /** A dialog of its own instead of run (links shown once, a user's sessions). */
  dialog?: (r: R, ctx: Ctx, close: () => void) => ComponentChildren;
  /** The answer carries a secret to show once. */
  secretTitle?: string;
  confirm?: string;
}

export interface FilterDef {
  name: string;
  label: string;
  choices?: Option[];
}

export interface ResourceDef<R = any> {
  id: string;
  title: string;
  singular: string;
  description: ComponentChildren;
  icon: string;
  endpoint: string;
  scope: "global" | "org" | "project";
  paging: "token" | "offset";
  list: ApiPath;
  create?: ApiPath;
  /** GET/PUT/DELETE of one item. */
  item?: ApiPath;
  idParam?: string;
  update?: boolean;
  remove?: boolean;
  key: (r: R) => string;
  name: (r: R) => string;
  columns: Column<R>[];
  fields: FieldDef[];
  toForm: (r?: R) => Form;
  toWrite: (f: Form, r?: R) => unknown;
  /** The secret of a create answer, shown once. */
  secretOf?: (created: any) => string | undefined;
  secretTitle?: string;
  rowActions?: RowAction<R>[];
  /** Why a row cannot be edited or deleted (system roles), if it cannot. */
  locked?: (r: R) => string | undefined;
  href?: (r: R, ctx: Ctx) => string | undefined;
  filters?: FilterDef[];
  createParams?: (f: Form, ctx: Ctx) => Record<string, string>;
  /** Extra content above the list. */
  banner?: (ctx: Ctx) => ComponentChildren;
  emptyText?: ComponentChildren;
  /** Words of a create that is not "New <singular>" (an invitation makes a link, not the account). */
  createWords?: { button: string; submit: string; done: string };
}

export function allowed(def: ResourceDef, op: Op, ctx: Ctx, endpoint = def.endpoint): boolean {
  if (def.scope === "global") return canGlobal(endpoint, op);
  if (def.scope === "project" && ctx.project) return canInProject(endpoint, op, ctx.project);
  return can(endpoint, op);
}

function params(def: ResourceDef, ctx: Ctx, id?: string): Record<string, string> {
  const p: Record<string, string> = {};
  if (ctx.org) p.organizationID = ctx.org;
  if (ctx.project) p.projectID = ctx.project;
  if (id !== undefined && def.idParam) p[def.idParam] = id;
  return p;
}

const PAGE = 50;

export function ResourcePage<R>({ def, ctx, header = true }: { def: ResourceDef<R>; ctx: Ctx; header?: boolean }) {
  const [items, setItems] = useState<R[] | null>(null);
  const [next, setNext] = useState<string | undefined>();
  const [count, setCount] = useState(0);
  const [page, setPage] = useState(0);
  const [sort, setSort] = useState<{ col: number; desc: boolean } | null>(null);
  const [q, setQ] = useState("");
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  const [editing, setEditing] = useState<{ item?: R } | null>(null);
  const [deleting, setDeleting] = useState<R | null>(null);
  const [secret, setSecret] = useState<{ title: string; value: string }>();
  const [tick, setTick] = useState(0);
  const reload = () => setTick((t) => t + 1);

  const serverSort = def.paging === "offset" && sort ? def.columns[sort.col].serverSort + (sort.desc ? ":desc" : ":asc") : undefined;

  useEffect(() => {
    let live = true;
    setError(undefined);
    const run = async () => {
      if (def.paging === "offset") {
        const a = await request<{ items: R[]; count: number }>("GET", def.list, params(def, ctx), {
          query: { page, size: 20, sort: serverSort, ...filters },
        });
        if (!live) return;
        setItems(a.data.items);
        setCount(a.data.count);
      } else {
        const a = await request<R[]>("GET", def.list, params(def, ctx), { query: { limit: PAGE } });
        if (!live) return;
        setItems(a.data ?? []);
        setNext(a.headers.get("X-Next-Page-Token") || undefined);
      }
    };
    run().catch((e) => live && setError(describe(e)));
    return () => {
      live = false;
    };
  }, [def, ctx.org, ctx.project, tick, page, serverSort, JSON.stringify(filters)]);

  const more = async () => {
    try {
      const a = await request<R[]>("GET", def.list, params(def, ctx), { query: { limit: PAGE, pageToken: next } });
      setItems([...(items ?? []), ...(a.data ?? [])]);
      setNext(a.headers.get("X-Next-Page-Token") || undefined);
    } catch (e) {
      setError(describe(e));
    }
  };

  const shown = useMemo(() => {
    let l = items ?? [];
    if (def.paging === "token") {
      if (q) l = l.filter((r) => def.name(r).toLowerCase().includes(q.toLowerCase()) || def.key(r).includes(q));
      if (sort && def.columns[sort.col].sort) {
        const key = def.columns[sort.col].sort!;
        l = [...l].sort((a, b) => {
          const x = key(a),
            y = key(b);
          const c = x < y ? -1 : x > y ? 1 : 0;
          return sort.desc ? -c : c;
        });
      }
    }
    return l;
  }, [items, q, sort]);

  const mayCreate = def.create && allowed(def, "create", ctx);
  const mayUpdate = def.update && allowed(def, "update", ctx);
  const mayDelete = def.remove && allowed(def, "delete", ctx);
  const actions = (def.rowActions ?? []).filter((a) => allowed(def, a.op, ctx, a.endpoint));
  const [custom, setCustom] = useState<{ a: RowAction<R>; r: R } | null>(null);
  const hasRowActions = mayUpdate || mayDelete || actions.length > 0;

  const sortable = (i: number) => (def.paging === "offset" ? !!def.columns[i].serverSort : !!def.columns[i].sort);
  const toggleSort = (i: number) => {
    setSort((s) => (s?.col === i ? (s.desc ? null : { col: i, desc: true }) : { col: i, desc: false }));
    setPage(0);
  };

  return (
    <div class="stack">
      {header && (
        <PageHeader
          title={def.title}
          description={def.description}
          actions={
            mayCreate && (
              <Button variant="primary" onClick={() => setEditing({})}>
                <Icon name="plus" />
                {def.createWords?.button ?? `New ${def.singular}`}
              </Button>
            )
          }
        />
      )}
      {!header && mayCreate && (
        <div class="row-end">
          <Button variant="primary" onClick={() => setEditing({})}>
            <Icon name="plus" />
            {def.createWords?.button ?? `New ${def.singular}`}
          </Button>
        </div>
      )}
      {def.banner?.(ctx)}
      <div class="toolbar">
        {def.paging === "token" ? (
          <div class="search">
            <Icon name="search" />
            <input class="input" type="search" placeholder={`Filter ${def.title.toLowerCase()} by name or ID`} aria-label={`Filter ${def.title.toLowerCase()}`} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
          </div>
        ) : (
          (def.filters ?? []).map((f) => (
            <label class="filter" key={f.name}>
              <span>{f.label}</span>
              {f.choices ? (
                <select class="input input-sm" value={filters[f.name] ?? ""} onChange={(e) => (setFilters({ ...filters, [f.name]: e.currentTarget.value }), setPage(0))}>
                  <option value="">Any</option>
                  {f.choices.map((c) => (
                    <option value={c.value}>{c.label}</option>
                  ))}
                </select>
              ) : (
                <DebouncedInput value={filters[f.name] ?? ""} label={f.label} onChange={(v) => (setFilters({ ...filters, [f.name]: v }), setPage(0))} />
              )}
            </label>
          ))
        )}
        <span class="muted count" aria-live="polite">
          {items === null ? "" : def.paging === "offset" ? `${count} ${count === 1 ? def.singular : def.title.toLowerCase()}` : `${shown.length}${next ? "+" : ""} shown`}
        </span>
      </div>
      {error && <ErrorBox message={error} title={`Could not load ${def.title.toLowerCase()}`} />}
      {items === null && !error && <Spinner label={`Loading ${def.title.toLowerCase()}`} />}
      {items !== null && shown.length === 0 && (
        <Empty title={q || Object.values(filters).some(Boolean) ? "Nothing matches" : `No ${def.title.toLowerCase()} yet`}>{def.emptyText}</Empty>
      )}
      {items !== null && shown.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                {def.columns.map((c, i) => (
                  <th scope="col" aria-sort={sort?.col === i ? (sort.desc ? "descending" : "ascending") : undefined}>
                    {sortable(i) ? (
                      <button type="button" class="th-sort" onClick={() => toggleSort(i)}>
                        {c.label}
                        <span class="sort-mark" aria-hidden="true">
                          {sort?.col === i ? (sort.desc ? "↓" : "↑") : "↕"}
                        </span>
                      </button>
                    ) : (
                      c.label
                    )}
                  </th>
                ))}
                {hasRowActions && (
                  <th scope="col" class="actions-col">
                    <span class="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => {
                const locked = def.locked?.(r);
                const href = def.href?.(r, ctx);
                return (
                  <tr key={def.key(r)}>
                    {def.columns.map((c, i) => (
                      <td>{i === 0 && href ? <Link href={href} class="cell-link">{c.value(r)}</Link> : c.value(r)}</td>
                    ))}
                    {hasRowActions && (
                      <td class="actions-col">
                        {locked ? (
                          <Badge>{locked}</Badge>
                        ) : (
                          <div class="row-actions">
                            {actions.filter((a) => !a.when || a.when(r)).map((a) => (
                              <Button
                                size="sm"
                                variant="ghost"
                                aria-label={`${a.label} ${def.name(r)}`}
                                onClick={async () => {
                                  if (a.dialog) return setCustom({ a, r });
                                  if (a.confirm && !confirm(a.confirm)) return;
                                  try {
                                    const s = await a.run?.(r, ctx);
                                    if (s && a.secretTitle) setSecret({ title: a.secretTitle, value: s });
                                    else toast(`${a.label}: done`);
                                    reload();
                                  } catch (e) {
                                    toast(describe(e), "error");
                                  }
                                }}
                              >
                                {a.label}
                              </Button>
                            ))}
                            {mayUpdate && (
                              <Button size="sm" variant="ghost" aria-label={`Edit ${def.name(r)}`} onClick={() => setEditing({ item: r })}>
                                Edit
                              </Button>
                            )}
                            {mayDelete && (
                              <Button size="sm" variant="ghost" class="text-danger" aria-label={`Delete ${def.name(r)}`} onClick={() => setDeleting(r)}>
                                Delete
                              </Button>
                            )}
                          </div>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {def.paging === "token" && next && (
        <div class="row-center">
          <Button onClick={more}>Load more</Button>
        </div>
      )}
      {def.paging === "offset" && count > 20 && (
        <nav class="pager" aria-label="Pages">
          <Button size="sm" disabled={page === 0} onClick={() => setPage(page - 1)}>
            Previous
          </Button>
          <span>
            Page {page + 1} of {Math.ceil(count / 20)}
          </span>
          <Button size="sm" disabled={(page + 1) * 20 >= count} onClick={() => setPage(page + 1)}>
            Next
          </Button>
        </nav>
      )}
      {editing && (
        <ResourceForm
          def={def}
          ctx={ctx}
          item={editing.item}
          onClose={() => setEditing(null)}
          onDone={(created) => {
            setEditing(null);
            reload();
            const s = created ? def.secretOf?.(created) : undefined;
            if (s) setSecret({ title: def.secretTitle ?? "Copy the secret now", value: s });
          }}
        />
      )}
      <Confirm
        open={!!deleting}
        title={`Delete ${def.singular}?`}
        message={
          <>
            <strong>{deleting ? def.name(deleting) : ""}</strong> will be deleted. This cannot be undone.
          </>
        }
        action="Delete"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await request("DELETE", def.item!, params(def, ctx, def.key(deleting!)));
          toast(`${def.singular[0].toUpperCase() + def.singular.slice(1)} ${def.name(deleting!)} deleted`);
          reload();
        }}
      />
      {custom?.a.dialog?.(custom.r, ctx, () => (setCustom(null), reload()))}
      <SecretDialog secret={secret?.value} title={secret?.title ?? ""} onClose={() => setSecret(undefined)} />
    </div>
  );
}

function DebouncedInput({ value, label, onChange }: { value: string; label: string; onChange: (v: string) => void }) {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => v !== value && onChange(v), 300);
    return () => clearTimeout(t);
  }, [v]);
  return <input class="input input-sm" type="search" aria-label={label} value={v} onInput={(e) => setV(e.currentTarget.value)} />;
}

export function ResourceForm<R>({ def, ctx, item, onClose, onDone }: { def: ResourceDef<R>; ctx: Ctx; item?: R; onClose: () => void; onDone: (created?: unknown) => void }) {
  const [form, setForm] = useState<Form>(() => def.toForm(item));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const editing = item !== undefined;
  const fields = def.fields.filter((f) => (!editing || !f.createOnly) && (!f.showIf || f.showIf(form)));
  const formID = `form-${def.id}`;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body = def.toWrite(form, item);
      if (editing) {
        await request("PUT", def.item!, params(def, ctx, def.key(item!)), { body });
        toast(`${cap(def.singular)} ${String(form.name ?? def.name(item!))} saved`);
        onDone();
      } else {
        const p = { ...params(def, ctx), ...(def.createParams?.(form, ctx) ?? {}) };
        const a = await request("POST", def.create!, p, { body });
        toast(def.createWords?.done ?? `${cap(def.singular)} ${String(form.name ?? "")} created`.replace(/ +created/, " created"));
        onDone(a.data);
      }
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open
      wide={fields.length > 4}
      title={editing ? `Edit ${def.singular} ${def.name(item!)}` : (def.createWords?.button ?? `New ${def.singular}`)}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" form={formID} busy={busy}>
            {editing ? "Save changes" : (def.createWords?.submit ?? `Create ${def.singular}`)}
          </Button>
        </>
      }
    >
      <form id={formID} class="form" onSubmit={submit} noValidate>
        {error && <ErrorBox message={error} />}
        {fields.map((f) => (
          <FieldInput key={f.name} field={f} ctx={ctx} value={form[f.name]} onChange={(v) => setForm((x) => ({ ...x, [f.name]: v }))} />
        ))}
      </form>
    </Dialog>
  );
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

function FieldInput({ field: f, ctx, value, onChange }: { field: FieldDef; ctx: Ctx; value: unknown; onChange: (v: unknown) => void }) {
  const [options, setOptions] = useState<Option[] | null>(f.choices ?? null);
  const [optErr, setOptErr] = useState<string>();
  useEffect(() => {
    if (f.options) f.options(ctx).then(setOptions, (e) => setOptErr(describe(e)));
  }, [f.name]);
  if (f.kind === "checklist") {
    if (!options) return optErr ? <ErrorBox message={optErr} /> : <Spinner label={`Loading ${f.label.toLowerCase()}`} />;
    return <CheckList label={f.label} options={options} value={(value as string[]) ?? []} onChange={onChange} />;
  }
  if (f.kind === "checkbox") {
    return (
      <label class="check check-field">
        <input type="checkbox" checked={!!value} onChange={(e) => onChange(e.currentTarget.checked)} />
        <span>{f.label}</span>
        {f.hint && <span class="muted">{f.hint}</span>}
      </label>
    );
  }
  return (
    <Field label={f.label} hint={f.hint} required={f.required} error={optErr}>
      {(id, by) => {
        const common = { id, "aria-describedby": by, required: f.required, placeholder: f.placeholder };
        switch (f.kind) {
          case "textarea":
            return <textarea {...common} class={`input ${f.mono ? "mono" : ""}`} rows={3} value={(value as string) ?? ""} onInput={(e) => onChange(e.currentTarget.value)} />;
          case "select":
            return (
              <select {...common} class="input" value={(value as string) ?? ""} onChange={(e) => onChange(e.currentTarget.value)}>
                {!f.required && <option value="">—</option>}
                {f.required && !value && <option value="">Choose…</option>}
                {(options ?? []).map((o) => (
                  <option value={o.value}>{o.label}</option>
                ))}
              </select>
            );
          case "number":
            return <input {...common} class="input" type="number" value={value === undefined || value === null ? "" : String(value)} onInput={(e) => onChange(e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value))} />;
          case "datetime":
            return <input {...common} class="input" type="datetime-local" value={(value as string) ?? ""} onInput={(e) => onChange(e.currentTarget.value)} />;
          case "secret":
            return <input {...common} class="input mono" type="password" autocomplete="new-password" value={(value as string) ?? ""} onInput={(e) => onChange(e.currentTarget.value)} />;
          default:
            return <input {...common} class={`input ${f.mono ? "mono" : ""}`} type="text" autocomplete="off" spellcheck={false} value={(value as string) ?? ""} onInput={(e) => onChange(e.currentTarget.value)} />;
        }
      }}
    </Field>
  );
}
