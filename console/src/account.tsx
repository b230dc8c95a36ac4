// The pages of sessions, passwords and keys: the person's own account
// (profile, password, sessions, consented applications), the dialogs of the
// Users page (a one-time password link, a user's sessions) and the
// platform's signing keys.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { can, canGlobal } from "./acl";
import { del, describe, get, getAll, post, put, type S } from "./api/client";
import { Link } from "./router";
import { Badge, Button, Card, CopyButton, Dialog, Empty, ErrorBox, Field, Notice, PageHeader, Spinner, fmtTime, relTime, toast, useLoad } from "./ui";

const When = ({ t }: { t?: string }) => (t ? <time dateTime={t} title={fmtTime(t)}>{relTime(t)}</time> : <span class="muted">—</span>);

/** A browser's User-Agent in words: the browser and the system, else as is. */
export function device(ua?: string): string {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : undefined;
  const os = /Windows/.test(ua) ? "Windows" : /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : undefined;
  return browser && os ? `${browser} on ${os}` : browser ?? os ?? ua.slice(0, 60);
}

const providerWords = (p: S["sessionProvider"]) => (p.id === "local" ? "Password" : p.issuer ?? p.id);

/** SessionTable lists sessions, each with a button that ends it. */
function SessionTable({ sessions, onEnd, label }: { sessions: S["session"][]; onEnd: (s: S["session"]) => Promise<void>; label: string }) {
  const [busy, setBusy] = useState<string>();
  if (sessions.length === 0) return <p class="muted">No active sessions.</p>;
  return (
    <div class="table-wrap">
      <table class="table" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Address</th>
            <th scope="col">Signed in with</th>
            <th scope="col">Started</th>
            <th scope="col">Last used</th>
            <th scope="col" class="actions-col">
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => {
            const what = s.kind === "browser" ? device(s.userAgent) : s.clientName ?? s.clientId ?? "Deleted application";
            return (
              <tr key={s.id}>
                <td>
                  <span class="name-cell">
                    <span class="name">
                      {what} {s.current && <Badge tone="ok">current</Badge>}
                    </span>
                    <span class="muted small">{s.kind === "browser" ? "Browser session" : `Application · ${(s.scopes ?? []).join(" ")}`}</span>
                  </span>
                </td>
                <td>{s.clientAddress ? <code class="id">{s.clientAddress}</code> : <span class="muted">—</span>}</td>
                <td>{providerWords(s.provider)}</td>
                <td>
                  <When t={s.createdAt} />
                </td>
                <td>
                  <When t={s.lastUsedAt} />
                </td>
                <td class="actions-col">
                  <Button
                    size="sm"
                    variant="ghost"
                    class="text-danger"
                    busy={busy === s.id}
                    aria-label={`${s.current ? "Sign out" : "End"} ${what}${s.current ? " (current session)" : ""}`}
                    onClick={async () => {
                      if (s.current && !confirm("This is the session you are using: ending it signs you out of the console. Continue?")) return;
                      setBusy(s.id);
                      try {
                        await onEnd(s);
                      } catch (e) {
                        toast(describe(e), "error");
                      } finally {
                        setBusy(undefined);
                      }
                    }}
                  >
                    {s.current ? "Sign out" : "End"}
                  </Button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function PasswordForm() {
  const [cur, setCur] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const mismatch = again !== "" && next !== again;
  return (
    <form
      class="stack"
      onSubmit={async (e) => {
        e.preventDefault();
        if (mismatch) return;
        setBusy(true);
        setError(undefined);
        try {
          await put("/api/v1/account/password", {}, { currentPassword: cur, newPassword: next });
          setCur("");
          setNext("");
          setAgain("");
          toast("Your password was changed");
        } catch (err) {
          setError(describe(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <Field label="Current password" required>
        {(id, by) => <input id={id} aria-describedby={by} class="input" type="password" autocomplete="current-password" required value={cur} onInput={(e) => setCur(e.currentTarget.value)} />}
      </Field>
      <Field label="New password" required hint="At least 12 characters; a passphrase of several words is easiest to remember.">
        {(id, by) => <input id={id} aria-describedby={by} class="input" type="password" autocomplete="new-password" required value={next} onInput={(e) => setNext(e.currentTarget.value)} />}
      </Field>
      <Field label="Repeat the new password" required error={mismatch ? "The two new passwords differ." : undefined}>
        {(id, by) => <input id={id} aria-describedby={by} class="input" type="password" autocomplete="new-password" required value={again} onInput={(e) => setAgain(e.currentTarget.value)} />}
      </Field>
      {error && <ErrorBox message={error} title="The password was not changed" />}
      <div>
        <Button type="submit" variant="primary" busy={busy} disabled={mismatch || !cur || !next}>
          Change password
        </Button>
      </div>
    </form>
  );
}

/** ProofFields asks for what removing a factor or replacing the recovery codes needs besides the token: the password or a code. */
function ProofFields({ proof, setProof }: { proof: { kind: "password" | "code"; value: string }; setProof: (p: { kind: "password" | "code"; value: string }) => void }) {
  return (
    <Field label={proof.kind === "password" ? "Current password" : "A code from your app, or a recovery code"} required hint="Needed to change your second factors.">
      {(id, by) => (
        <div class="row-between">
          {proof.kind === "password" ? (
            <input id={id} aria-describedby={by} class="input" type="password" autocomplete="current-password" value={proof.value} onInput={(e) => setProof({ ...proof, value: e.currentTarget.value })} />
          ) : (
            <input id={id} aria-describedby={by} class="input" type="text" autocomplete="one-time-code" value={proof.value} onInput={(e) => setProof({ ...proof, value: e.currentTarget.value })} />
          )}
          <Button size="sm" variant="ghost" onClick={() => setProof({ kind: proof.kind === "password" ? "code" : "password", value: "" })}>
            {proof.kind === "password" ? "Use a code" : "Use the password"}
          </Button>
        </div>
      )}
    </Field>
  );
}

/** RecoveryCodes shows a new set of recovery codes, once. */
function RecoveryCodeList({ codes }: { codes: string[] }) {
  return (
    <Notice kind="warn">
      <p>
        <strong>Save your recovery codes.</strong> Each signs you in once if you lose your authenticator app. They are shown only now.
      </p>
      <ul class="mfa-codes" id="mfa-recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <CopyButton value={codes.join("\n")} label="Copy the codes" />
    </Notice>
  );
}

/** TwoFactor is the account's second factors (issue 14): list, add an authenticator app, remove, new recovery codes. */
function TwoFactor() {
  const f = useLoad(() => get<S["accountFactors"]>("/api/v1/account/factors"), []);
  const [enrol, setEnrol] = useState<S["totpEnrolment"]>();
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[]>();
  const [proof, setProof] = useState<{ kind: "password" | "code"; value: string }>({ kind: "password", value: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const proofBody = () => (proof.kind === "password" ? { password: proof.value } : { code: proof.value });
  if (f.error) return <ErrorBox message={f.error} />;
  if (!f.data) return <Spinner />;
  const confirmed = f.data.factors.filter((x) => x.confirmed);
  return (
    <div class="stack">
      <p class="muted">
        Policy: <Badge tone={f.data.policy === "required" ? "accent" : "neutral"}>{f.data.policy}</Badge> · recovery codes left: {f.data.recoveryCodesLeft}
      </p>
      {confirmed.length === 0 ? (
        <p class="muted">No second factor yet.</p>
      ) : (
        <ul class="link-list">
          {confirmed.map((x) => (
            <li key={x.id} class="row-between">
              <span class="name-cell">
                <span class="name">{x.name}</span>
                <span class="muted small">
                  {x.kind === "totp" ? "Authenticator app" : x.kind} · added <When t={x.createdAt} /> · last used <When t={x.lastUsedAt} />
                </span>
              </span>
              <Button
                size="sm"
                variant="ghost"
                class="text-danger"
                disabled={!proof.value}
                aria-label={`Remove ${x.name}`}
                onClick={() =>
                  run(async () => {
                    await post("/api/v1/account/factors/{factorID}/remove", { factorID: x.id }, proofBody());
                    toast(`${x.name} removed`);
                    setProof({ ...proof, value: "" });
                    f.reload();
                  })
                }
              >
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      {codes && <RecoveryCodeList codes={codes} />}
      {enrol ? (
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              const res = await post<S["factorConfirmation"]>("/api/v1/account/factors/{factorID}/confirm", { factorID: enrol.factor.id }, { code });
              setEnrol(undefined);
              setCode("");
              if (res.recoveryCodes?.length) setCodes(res.recoveryCodes);
              toast("Authenticator app added");
              f.reload();
            });
          }}
        >
          <p>Scan this QR code with your authenticator app, or enter the key by hand.</p>
          <svg class="mfa-qr" viewBox={`0 0 ${enrol.qrCode.size} ${enrol.qrCode.size}`} role="img" aria-label="QR code of the new factor" shape-rendering="crispEdges">
            <path d={enrol.qrCode.path} />
          </svg>
          <p>
            Key: <code id="mfa-secret">{enrol.secret.replace(/(.{4})/g, "$1 ").trim()}</code>
          </p>
          <Field label="Code from the app" required>
            {(id, by) => <input id={id} aria-describedby={by} class="input" inputMode="numeric" autocomplete="one-time-code" required maxLength={6} value={code} onInput={(e) => setCode(e.currentTarget.value)} />}
          </Field>
          <div>
            <Button type="submit" variant="primary" busy={busy} disabled={code.length !== 6}>
              Confirm
            </Button>
          </div>
        </form>
      ) : (
        f.data.policy !== "off" && (
          <div>
            <Button
              busy={busy}
              onClick={() =>
                run(async () => {
                  setCodes(undefined);
                  setEnrol(await post<S["totpEnrolment"]>("/api/v1/account/factors/totp", {}, { name: "Authenticator app" }));
                })
              }
            >
              Add an authenticator app
            </Button>
          </div>
        )
      )}
      {confirmed.length > 0 && (
        <div class="stack">
          <ProofFields proof={proof} setProof={setProof} />
          <div>
            <Button
              busy={busy}
              disabled={!proof.value}
              onClick={() =>
                run(async () => {
                  const res = await post<S["recoveryCodes"]>("/api/v1/account/recoverycodes", {}, proofBody());
                  setCodes(res.codes);
                  setProof({ ...proof, value: "" });
                  f.reload();
                })
              }
            >
              New recovery codes
            </Button>
          </div>
        </div>
      )}
      {error && <ErrorBox message={error} title="Your second factors were not changed" />}
    </div>
  );
}

export function Account() {
  const acct = useLoad(() => get<S["accountRead"]>("/api/v1/account"), []);
  const sessions = useLoad(() => getAll<S["session"]>("/api/v1/account/sessions"), []);
  const consents = useLoad(() => getAll<S["consent"]>("/api/v1/account/consents"), []);
  const a = acct.data;
  const idp = a?.identityProvider;
  const section = (id: string, title: string, body: ComponentChildren) => (
    <Card key={id} title={title} id={`acct-${id}`}>
      {body}
    </Card>
  );
  return (
    <div class="stack narrow">
      <PageHeader title="Your account" description="Who you are signed in as, where you belong, and where you are signed in." />
      {section(
        "profile",
        "Profile",
        acct.error ? (
          <ErrorBox message={acct.error} />
        ) : !a ? (
          <Spinner />
        ) : (
          <dl class="props">
            <dt>Email</dt>
            <dd>{a.email || "—"}</dd>
            <dt>Subject</dt>
            <dd>
              <code>{a.subject}</code>
            </dd>
            <dt>Signed in with</dt>
            <dd>{idp ? (idp.providerID === "local" ? "Password (local account)" : <code>{idp.issuer ?? idp.providerID}</code>) : "—"}</dd>
          </dl>
        ),
      )}
      {section(
        "organizations",
        "Organizations",
        !a ? (
          acct.error ? null : <Spinner />
        ) : a.organizations.length === 0 ? (
          <p class="muted">You are not a member of any organization yet.</p>
        ) : (
          <ul class="link-list">
            {a.organizations.map((o) => (
              <li key={o.organizationID}>
                <Link href={`/console/orgs/${o.organizationID}`}>{o.organizationName}</Link>{" "}
                {o.roles.length ? o.roles.map((r) => <Badge tone="accent">{r}</Badge>) : <span class="muted small">no role</span>}
              </li>
            ))}
          </ul>
        ),
      )}
      {a?.localAccount && section("password", "Password", <PasswordForm />)}
      {a?.localAccount && section("twofactor", "Two-factor", <TwoFactor />)}
      {section(
        "sessions",
        "Where you are signed in",
        sessions.error ? (
          <ErrorBox message={sessions.error} />
        ) : !sessions.data ? (
          <Spinner />
        ) : (
          <SessionTable
            label="Your sessions"
            sessions={sessions.data}
            onEnd={async (s) => {
              await del("/api/v1/account/sessions/{sessionID}", { sessionID: s.id });
              toast("Session ended");
              if (s.current) location.reload();
              else sessions.reload();
            }}
          />
        ),
      )}
      {section(
        "consents",
        "Applications you allowed",
        consents.error ? (
          <ErrorBox message={consents.error} />
        ) : !consents.data ? (
          <Spinner />
        ) : consents.data.length === 0 ? (
          <p class="muted">You have not allowed any application yet.</p>
        ) : (
          <ul class="link-list">
            {consents.data.map((c) => (
              <li key={c.clientId} class="row-between">
                <span class="name-cell">
                  <span class="name">{c.clientName}</span>
                  <span class="muted small">
                    {c.scopes.join(" ")} · allowed <When t={c.grantedAt} />
                  </span>
                </span>
                <Button
                  size="sm"
                  variant="ghost"
                  class="text-danger"
                  aria-label={`Revoke ${c.clientName}`}
                  onClick={async () => {
                    if (!confirm(`Revoke ${c.clientName}? It loses access now and asks again at your next sign-in to it.`)) return;
                    try {
                      await del("/api/v1/account/consents/{clientID}", { clientID: c.clientId });
                      toast(`${c.clientName} revoked`);
                      consents.reload();
                      sessions.reload();
                    } catch (e) {
                      toast(describe(e), "error");
                    }
                  }}
                >
                  Revoke
                </Button>
              </li>
            ))}
          </ul>
        ),
      )}
    </div>
  );
}

/** PasswordLinkDialog makes a user's single-use invitation or reset link and shows it once. */
export function PasswordLinkDialog({ user, org, kind, onClose }: { user: S["userRead"]; org: string; kind: "invitation" | "passwordreset"; onClose: () => void }) {
  const [link, setLink] = useState<S["passwordLink"]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const invite = kind === "invitation";
  const title = invite ? "Send an invitation" : "Reset the password";
  return (
    <Dialog
      open
      title={title}
      onClose={onClose}
      footer={
        link ? (
          <Button variant="primary" onClick={onClose}>
            I have passed it on
          </Button>
        ) : (
          <>
            <Button onClick={onClose}>Cancel</Button>
            <Button
              variant="primary"
              busy={busy}
              onClick={async () => {
                setBusy(true);
                setError(undefined);
                try {
                  const p = { organizationID: org, userID: user.metadata.id };
                  setLink(
                    invite
                      ? await post<S["passwordLink"]>("/api/v1/organizations/{organizationID}/users/{userID}/invitation", p)
                      : await post<S["passwordLink"]>("/api/v1/organizations/{organizationID}/users/{userID}/passwordreset", p),
                  );
                } catch (e) {
                  setError(describe(e));
                } finally {
                  setBusy(false);
                }
              }}
            >
              Create link
            </Button>
          </>
        )
      }
    >
      {!link ? (
        <p>
          {invite ? (
            <>
              Create a link with which <strong>{user.spec.subject}</strong> chooses a password and signs in to this organization with it.
            </>
          ) : (
            <>
              Create a link with which <strong>{user.spec.subject}</strong> chooses a new password. Their current password keeps working until they use it; then every session it began ends.
            </>
          )}{" "}
          Gatehouse sends no email: you hand the link to the person.
        </p>
      ) : (
        <>
          <Notice kind="warn">
            This link is for <strong>{user.spec.subject}</strong> only and works once. Whoever opens it sets the password, so send it to the person by a channel you trust. It is shown only now and expires{" "}
            <strong>{fmtTime(link.expiresAt)}</strong>.
          </Notice>
          <div class="secret">
            <code class="secret-value" data-testid="password-link">
              {link.url}
            </code>
            <CopyButton value={link.url} />
          </div>
        </>
      )}
      {error && <ErrorBox message={error} />}
    </Dialog>
  );
}

/** UserSessionsDialog lists a user's sessions that the organization's identity providers vouched for, to end them. */
export function UserSessionsDialog({ user, org, onClose }: { user: S["userRead"]; org: string; onClose: () => void }) {
  const p = { organizationID: org, userID: user.metadata.id };
  const s = useLoad(() => getAll<S["session"]>("/api/v1/organizations/{organizationID}/users/{userID}/sessions", p), [org, user.metadata.id]);
  return (
    <Dialog
      open
      wide
      title={`Sessions of ${user.spec.subject}`}
      onClose={onClose}
      footer={
        <>
          {!!s.data?.length && can("identity:sessions", "delete") && (
            <Button
              variant="danger"
              onClick={async () => {
                if (!confirm(`End every session of ${user.spec.subject}? They are signed out of every application.`)) return;
                try {
                  await del("/api/v1/organizations/{organizationID}/users/{userID}/sessions", p);
                  toast("Every session ended");
                  s.reload();
                } catch (e) {
                  toast(describe(e), "error");
                }
              }}
            >
              End all
            </Button>
          )}
          <Button onClick={onClose}>Close</Button>
        </>
      }
    >
      <p class="muted">The sessions this organization's own identity providers and local passwords vouched for. Ending one signs the person out of it and of the applications begun in it.</p>
      {s.error ? (
        <ErrorBox message={s.error} />
      ) : !s.data ? (
        <Spinner />
      ) : (
        <SessionTable
          label={`Sessions of ${user.spec.subject}`}
          sessions={s.data}
          onEnd={async (x) => {
            await del("/api/v1/organizations/{organizationID}/users/{userID}/sessions/{sessionID}", { ...p, sessionID: x.id });
            toast("Session ended");
            s.reload();
          }}
        />
      )}
    </Dialog>
  );
}

const keyTone = (s: S["signingKey"]["state"]) => (s === "active" ? "ok" : s === "next" ? "accent" : "neutral");

export function SigningKeys() {
  const keys = useLoad(() => getAll<S["signingKey"]>("/api/v1/signingkeys"), []);
  const [asking, setAsking] = useState(false);
  const [alg, setAlg] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const algs = [...new Set((keys.data ?? []).filter((k) => k.scope === "platform").map((k) => k.algorithm))];
  return (
    <div class="stack">
      <PageHeader
        title="Signing keys"
        description="The keys Gatehouse signs tokens with. Each algorithm has an active key, a next key already published in the JWKS, and retired keys published until their tokens expire. Rotating makes the next key active and retires the active one: tokens already issued stay valid."
        actions={
          canGlobal("identity:signingkeys", "update") && (
            <Button variant="primary" onClick={() => (setError(undefined), setAsking(true))}>
              Rotate keys
            </Button>
          )
        }
      />
      {keys.error && <ErrorBox message={keys.error} title="Could not load the signing keys" />}
      {!keys.data && !keys.error && <Spinner label="Loading signing keys" />}
      {keys.data && keys.data.length === 0 && <Empty title="No signing keys yet">Gatehouse makes them at its first start.</Empty>}
      {keys.data && keys.data.length > 0 && (
        <div class="table-wrap">
          <table class="table" aria-label="Signing keys">
            <thead>
              <tr>
                <th scope="col">Key ID</th>
                <th scope="col">Algorithm</th>
                <th scope="col">State</th>
                <th scope="col">For</th>
                <th scope="col">Created</th>
                <th scope="col">Signing since</th>
                <th scope="col">Retired</th>
                <th scope="col">Leaves the JWKS</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.kid}>
                  <td>
                    <code class="id">{k.kid}</code>
                  </td>
                  <td>{k.algorithm}</td>
                  <td>
                    <Badge tone={keyTone(k.state)}>{k.state}</Badge>
                  </td>
                  <td>{k.scope === "platform" ? "Sign-in tokens" : <span>Organization <code class="id">{k.organizationId}</code></span>}</td>
                  <td>
                    <When t={k.createdAt} />
                  </td>
                  <td>
                    <When t={k.activatedAt} />
                  </td>
                  <td>
                    <When t={k.retiredAt} />
                  </td>
                  <td>
                    <When t={k.expiresAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog
        open={asking}
        title="Rotate signing keys?"
        onClose={() => setAsking(false)}
        footer={
          <>
            <Button onClick={() => setAsking(false)}>Cancel</Button>
            <Button
              variant="danger"
              busy={busy}
              onClick={async () => {
                setBusy(true);
                setError(undefined);
                try {
                  const r = await post<S["signingKeyRotations"]>("/api/v1/signingkeys/rotate", {}, alg ? { algorithm: alg } : {});
                  toast(`Rotated: ${r.map((x) => `${x.algorithm} now signs with ${x.activeKid}`).join("; ")}`);
                  setAsking(false);
                  keys.reload();
                } catch (e) {
                  setError(describe(e));
                } finally {
                  setBusy(false);
                }
              }}
            >
              Rotate
            </Button>
          </>
        }
      >
        <p>The next key of each set rotated becomes the active one and a new next key is made. Relying parties that cache the JWKS already know the next key, so nothing breaks.</p>
        <Field label="Algorithm" hint="Rotate one key set, or all of them.">
          {(id, by) => (
            <select id={id} aria-describedby={by} class="input" value={alg} onChange={(e) => setAlg(e.currentTarget.value)}>
              <option value="">All algorithms</option>
              {(algs.length ? algs : ["RS256", "ES256", "ES512"]).map((a) => (
                <option value={a}>{a}</option>
              ))}
            </select>
          )}
        </Field>
        {error && <ErrorBox message={error} />}
      </Dialog>
    </div>
  );
}
