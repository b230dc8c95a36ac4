// The design system's components: buttons, dialogs (native <dialog>, modal:
// the page behind is inert, focus stays inside, Escape closes), toasts, form
// fields, tables, badges. Styles are in styles.css; nothing here sets a style
// inline (the Content-Security-Policy allows none).
import { signal } from "@preact/signals";
import type { ButtonHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { describe } from "./api/client";

let nextID = 0;
export const useID = (prefix = "f") => useState(() => `${prefix}-${++nextID}`)[0];

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "secondary" | "danger" | "ghost";
  size?: "sm" | "md";
  busy?: boolean;
  type?: "button" | "submit";
  disabled?: boolean;
};

export function Button({ variant = "secondary", size = "md", busy, children, type = "button", disabled, ...rest }: ButtonProps) {
  return (
    <button {...rest} type={type} disabled={disabled || busy} aria-busy={busy || undefined} class={`btn btn-${variant} btn-${size} ${rest.class ?? ""}`}>
      {busy && <span class="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function Dialog(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  wide?: boolean;
  describedBy?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleID = useID("dlg");
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  if (!props.open) return null;
  return (
    <dialog
      ref={ref}
      class={props.wide ? "dialog dialog-wide" : "dialog"}
      aria-labelledby={titleID}
      aria-describedby={props.describedBy}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <header class="dialog-head">
        <h2 id={titleID}>{props.title}</h2>
        <button type="button" class="icon-btn" aria-label="Close" onClick={props.onClose}>
          <Icon name="x" />
        </button>
      </header>
      <div class="dialog-body">{props.children}</div>
      {props.footer && <footer class="dialog-foot">{props.footer}</footer>}
    </dialog>
  );
}

/** Confirm asks before something that cannot be undone. */
export function Confirm(props: { open: boolean; title: string; message: ComponentChildren; action: string; onConfirm: () => Promise<void>; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const id = useID("confirm");
  return (
    <Dialog
      open={props.open}
      title={props.title}
      onClose={props.onClose}
      describedBy={id}
      footer={
        <>
          <Button onClick={props.onClose}>Cancel</Button>
          <Button
            variant="danger"
            busy={busy}
            onClick={async () => {
              setBusy(true);
              setError(undefined);
              try {
                await props.onConfirm();
                props.onClose();
              } catch (e) {
                setError(describe(e));
              } finally {
                setBusy(false);
              }
            }}
          >
            {props.action}
          </Button>
        </>
      }
    >
      <p id={id}>{props.message}</p>
      {error && <ErrorBox message={error} />}
    </Dialog>
  );
}

// Toasts: short confirmations, read out by screen readers (aria-live).
interface Toast {
  id: number;
  text: string;
  kind: "ok" | "error";
}
export const toasts = signal<Toast[]>([]);
/** useLoad runs fn when deps change (and on reload), keeping its result or its error in words. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): { data?: T; error?: string; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    fn().then(
      (d) => live && setData(d),
      (e) => live && setError(describe(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

export function toast(text: string, kind: Toast["kind"] = "ok") {
  const t = { id: ++nextID, text, kind };
  toasts.value = [...toasts.value, t];
  setTimeout(() => (toasts.value = toasts.value.filter((x) => x.id !== t.id)), kind === "error" ? 8000 : 4000);
}
export function Toasts() {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.value.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`}>
          <Icon name={t.kind === "ok" ? "check" : "alert"} />
          <span>{t.text}</span>
        </div>
      ))}
    </div>
  );
}

export function ErrorBox({ message, title = "That did not work" }: { message: string; title?: string }) {
  return (
    <div class="alert alert-error" role="alert">
      <Icon name="alert" />
      <div>
        <strong>{title}</strong>
        <p>{message}</p>
      </div>
    </div>
  );
}

export function Notice({ children, kind = "info" }: { children: ComponentChildren; kind?: "info" | "warn" | "ok" }) {
  return (
    <div class={`alert alert-${kind}`}>
      <Icon name={kind === "ok" ? "check" : "info"} />
      <div>{children}</div>
    </div>
  );
}

export function Badge({ children, tone = "neutral" }: { children: ComponentChildren; tone?: "neutral" | "ok" | "warn" | "danger" | "accent" }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <Icon name="inbox" />
      <p class="empty-title">{title}</p>
      {children && <div class="empty-text">{children}</div>}
    </div>
  );
}

export function Card({ title, children, actions, id }: { title?: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={title ? id : undefined}>
      {title && (
        <header class="card-head">
          <h2 id={id}>{title}</h2>
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      <div class="card-body">{children}</div>
    </section>
  );
}

export function PageHeader({ title, description, actions }: { title: string; description?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <header class="page-head">
      <div>
        <h1>{title}</h1>
        {description && <p class="page-desc">{description}</p>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </header>
  );
}

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <Button
      size="sm"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setDone(true);
          setTimeout(() => setDone(false), 2000);
        } catch {
          toast("Copying failed: select the text and copy it yourself.", "error");
        }
      }}
    >
      <Icon name={done ? "check" : "copy"} />
      {done ? "Copied" : label}
    </Button>
  );
}

/** SecretDialog shows a token or secret, once. */
export function SecretDialog({ secret, title, onClose }: { secret?: string; title: string; onClose: () => void }) {
  const id = useID("secret");
  return (
    <Dialog open={!!secret} title={title} onClose={onClose} describedBy={id} footer={<Button variant="primary" onClick={onClose}>I have stored it</Button>}>
      <p id={id}>This is the only time it is shown: Gatehouse stores a hash of it, not the value. Copy it to where it will be used now.</p>
      <div class="secret">
        <code class="secret-value" data-testid="secret-value">{secret}</code>
        <CopyButton value={secret ?? ""} />
      </div>
    </Dialog>
  );
}

// Form fields: a label, the control, a hint and an error, connected by IDs.
export function Field(props: { label: string; hint?: ComponentChildren; error?: string; children: (id: string, describedBy?: string) => ComponentChildren; required?: boolean }) {
  const id = useID();
  const hintID = props.hint ? id + "-hint" : undefined;
  const errID = props.error ? id + "-err" : undefined;
  const by = [hintID, errID].filter(Boolean).join(" ") || undefined;
  return (
    <div class={`field ${props.error ? "field-invalid" : ""}`}>
      <label for={id}>
        {props.label}
        {props.required && <span class="req" aria-hidden="true"> *</span>}
      </label>
      {props.children(id, by)}
      {props.hint && (
        <p class="hint" id={hintID}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={errID}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** CheckList is a multi-select as a list of checkboxes (keyboard and screen reader friendly). */
export function CheckList(props: { label: string; options: { value: string; label: string; hint?: string }[]; value: string[]; onChange: (v: string[]) => void; empty?: string }) {
  const [q, setQ] = useState("");
  const shown = props.options.filter((o) => !q || o.label.toLowerCase().includes(q.toLowerCase()));
  return (
    <fieldset class="field checklist">
      <legend>{props.label}</legend>
      {props.options.length > 8 && <input class="input input-sm" type="search" placeholder="Filter…" aria-label={`Filter ${props.label}`} value={q} onInput={(e) => setQ(e.currentTarget.value)} />}
      <div class="checklist-items">
        {props.options.length === 0 && <p class="hint">{props.empty ?? "Nothing to choose from yet."}</p>}
        {shown.map((o) => (
          <label key={o.value} class="check">
            <input
              type="checkbox"
              checked={props.value.includes(o.value)}
              onChange={(e) => props.onChange(e.currentTarget.checked ? [...props.value, o.value] : props.value.filter((v) => v !== o.value))}
            />
            <span>{o.label}</span>
            {o.hint && <span class="muted">{o.hint}</span>}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

export function fmtTime(s?: string): string {
  if (!s) return "—";
  const d = new Date(s);
  if (isNaN(d.getTime())) return s;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function relTime(s?: string): string {
  if (!s) return "—";
  const diff = (Date.now() - new Date(s).getTime()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (Math.abs(diff) < 60) return rtf.format(-Math.round(diff), "second");
  if (Math.abs(diff) < 3600) return rtf.format(-Math.round(diff / 60), "minute");
  if (Math.abs(diff) < 86400) return rtf.format(-Math.round(diff / 3600), "hour");
  return rtf.format(-Math.round(diff / 86400), "day");
}

const paths: Record<string, string> = {
  x: "M6 6l12 12M18 6L6 18",
  check: "M5 12l5 5L20 7",
  alert: "M12 8v5m0 3v.01M10.3 3.9L2.5 17.5A2 2 0 004.2 20.5h15.6a2 2 0 001.7-3L13.7 3.9a2 2 0 00-3.4 0z",
  info: "M12 16v-5m0-3v.01M12 21a9 9 0 110-18 9 9 0 010 18z",
  copy: "M8 8h11v11H8zM5 16V5h11",
  inbox: "M3 13h5l2 3h4l2-3h5M5 5h14l2 8v6H3v-6z",
  plus: "M12 5v14M5 12h14",
  search: "M11 18a7 7 0 110-14 7 7 0 010 14zm5-2l5 5",
  sun: "M12 17a5 5 0 100-10 5 5 0 000 10zM12 1v2m0 18v2M4.2 4.2l1.4 1.4m12.8 12.8l1.4 1.4M1 12h2m18 0h2M4.2 19.8l1.4-1.4M18.4 5.6l1.4-1.4",
  moon: "M21 12.8A9 9 0 1111.2 3a7 7 0 009.8 9.8z",
  menu: "M4 6h16M4 12h16M4 18h16",
  home: "M3 11l9-8 9 8M5 10v10h14V10",
  users: "M17 20v-2a4 4 0 00-4-4H7a4 4 0 00-4 4v2M10 10a4 4 0 100-8 4 4 0 000 8zm11 10v-2a4 4 0 00-3-3.9M16 2.1a4 4 0 010 7.8",
  group: "M12 12a4 4 0 100-8 4 4 0 000 8zM4 21v-1a6 6 0 0112 0v1M20 21v-1a5 5 0 00-3-4.6",
  folder: "M3 7a2 2 0 012-2h4l2 2h8a2 2 0 012 2v9a2 2 0 01-2 2H5a2 2 0 01-2-2z",
  bot: "M12 8V4M8 4h8M5 8h14v11H5zM9 13h.01M15 13h.01",
  shield: "M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
  key: "M15 7a3 3 0 11-6 0 3 3 0 016 0zM12 10v11m0-5h4m-4 3h3",
  gauge: "M12 14l4-4M3 14a9 9 0 1118 0",
  id: "M4 5h16v14H4zM8 11a2 2 0 100-4 2 2 0 000 4zm-3 5a3 3 0 016 0M14 9h4m-4 4h4",
  layers: "M12 3l9 5-9 5-9-5zM3 13l9 5 9-5",
  link: "M10 14a4 4 0 005.7 0l3-3a4 4 0 00-5.7-5.7l-1 1M14 10a4 4 0 00-5.7 0l-3 3a4 4 0 005.7 5.7l1-1",
  cloud: "M7 18a5 5 0 01-.9-9.9A6 6 0 0118 9a4.5 4.5 0 01-1 9z",
  list: "M8 6h13M8 12h13M8 18h13M3 6h.01M3 12h.01M3 18h.01",
  play: "M6 4l14 8-14 8z",
  building: "M4 21V5a2 2 0 012-2h8a2 2 0 012 2v16M16 9h2a2 2 0 012 2v10M8 7h4M8 11h4M8 15h4M2 21h20",
  lock: "M5 11h14v10H5zM8 11V7a4 4 0 018 0v4",
  user: "M20 21a8 8 0 00-16 0M12 13a5 5 0 100-10 5 5 0 000 10z",
  logout: "M9 21H5a2 2 0 01-2-2V5a2 2 0 012-2h4M16 17l5-5-5-5M21 12H9",
  chevron: "M6 9l6 6 6-6",
  palette: "M12 21a9 9 0 110-18c5 0 9 3.6 9 8 0 2.8-2.2 4-4.5 4H15a2 2 0 00-1.4 3.4A1.6 1.6 0 0112 21zM7.5 11h.01M10 7.5h.01M14 7.5h.01M16.5 11h.01",
  vault: "M4 4h16v16H4zM12 15a3 3 0 100-6 3 3 0 000 6zM12 9V7m0 10v-2",
};

export function Icon({ name, label }: { name: keyof typeof paths | string; label?: string }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" aria-hidden={label ? undefined : "true"} aria-label={label} role={label ? "img" : undefined} focusable="false">
      <path d={paths[name] ?? paths.info} />
    </svg>
  );
}
