// An organization's branding (issue 14): the display name, logo and colours
// its sign-in pages show. Theme values only: the server validates them and
// generates the pages' stylesheet from them.
import { useEffect, useRef, useState } from "preact/hooks";
import { can } from "./acl";
import { describe, get, put, request, type S } from "./api/client";
import { Button, Card, Confirm, ErrorBox, Field, Notice, PageHeader, Spinner, toast, useLoad } from "./ui";

const MAX_LOGO = 64 * 1024;
const HEX = /^#[0-9a-fA-F]{6}$/;

// luminance and onColor mirror internal/branding (WCAG 2 relative
// luminance): the preview's button text is what the pages will use.
function luminance(hex: string): number {
  const ch = (i: number) => {
    const v = parseInt(hex.slice(i, i + 2), 16) / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * ch(1) + 0.7152 * ch(3) + 0.0722 * ch(5);
}
const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
const onColor = (hex: string) => (contrast(luminance(hex), 1) >= contrast(luminance(hex), luminance("#0b0b0e")) ? "#ffffff" : "#0b0b0e");

function toBase64(buf: ArrayBuffer): string {
  let s = "";
  const b = new Uint8Array(buf);
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function ColorField({ label, hint, value, onChange }: { label: string; hint: string; value: string; onChange: (v: string) => void }) {
  const bad = value !== "" && !HEX.test(value);
  return (
    <Field label={label} hint={hint} error={bad ? "A colour as #rrggbb, for example #1d4ed8." : undefined}>
      {(id, by) => (
        <div class="color-input">
          <input type="color" aria-label={`${label}: picker`} value={HEX.test(value) ? value : "#ffffff"} onInput={(e) => onChange(e.currentTarget.value)} />
          <input id={id} class="input mono" aria-describedby={by} aria-invalid={bad || undefined} placeholder="The platform's" value={value} onInput={(e) => onChange(e.currentTarget.value.trim())} />
          {value && (
            <Button size="sm" variant="ghost" onClick={() => onChange("")}>
              Clear
            </Button>
          )}
        </div>
      )}
    </Field>
  );
}

/** Preview is a sign-in card in the chosen colours. The colours are set as custom properties through the CSSOM (element.style), which the console's style-src 'self' does not govern; no style attribute is written. */
function Preview({ name, primary, background, logo }: { name: string; primary: string; background: string; logo?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const set = (k: string, v?: string) => (v ? el.style.setProperty(k, v) : el.style.removeProperty(k));
    set("--pv-accent", HEX.test(primary) ? primary : undefined);
    set("--pv-on-accent", HEX.test(primary) ? onColor(primary) : undefined);
    set("--pv-bg", HEX.test(background) ? background : undefined);
    set("--pv-bg-text", HEX.test(background) ? onColor(background) : undefined);
  }, [primary, background]);
  return (
    <div class="brand-preview" ref={ref} aria-label="Preview of the sign-in page" role="img">
      <div class="pv-brand">
        {logo ? <img src={logo} alt="" class="pv-logo" /> : <span class="pv-mark" aria-hidden="true" />}
        <span>{name || "Gatehouse"}</span>
      </div>
      <div class="pv-card">
        <strong>Sign in</strong>
        <span class="pv-input" />
        <span class="pv-input" />
        <span class="pv-button">Sign in</span>
        <span class="pv-link">Forgot your password?</span>
      </div>
    </div>
  );
}

export function BrandingPage({ org }: { org: string }) {
  const p = { organizationID: org };
  const { data, error, reload } = useLoad(() => get<S["brandingRead"]>("/api/v1/organizations/{organizationID}/branding", p), [org]);
  const [form, setForm] = useState<{ displayName: string; primaryColor: string; backgroundColor: string; logo?: string; logoType?: string }>();
  const [busy, setBusy] = useState(false);
  const [saveError, setSaveError] = useState<string>();
  const [logoError, setLogoError] = useState<string>();
  const [removing, setRemoving] = useState(false);
  const mayEdit = can("identity:organizations", "update");
  useEffect(() => {
    if (data) setForm({ displayName: data.displayName, primaryColor: data.primaryColor, backgroundColor: data.backgroundColor, logo: data.logo, logoType: data.logoType });
  }, [data]);
  if (error) return <ErrorBox message={error} title="Could not load the branding" />;
  if (!form || !data) return <Spinner label="Loading the branding" />;
  const set = (k: keyof typeof form, v?: string) => setForm({ ...form, [k]: v });
  const logoSrc = form.logo ? `data:${form.logoType ?? "image/png"};base64,${form.logo}` : undefined;
  const valid = [form.primaryColor, form.backgroundColor].every((c) => c === "" || HEX.test(c));
  return (
    <div class="stack">
      <PageHeader
        title="Branding"
        description="What people see when they sign in to this organization: through one of its applications, or with an address in its verified domain. Theme values only, so the sign-in pages keep their strict security policy; without branding they look like the platform's."
      />
      {!mayEdit && <Notice>You may see this organization's branding but not change it.</Notice>}
      <div class="brand-grid">
        <Card title="Look" id="brand-look">
          <form
            class="form"
            onSubmit={async (e) => {
              e.preventDefault();
              setBusy(true);
              setSaveError(undefined);
              try {
                await put("/api/v1/organizations/{organizationID}/branding", p, {
                  displayName: form.displayName,
                  primaryColor: form.primaryColor,
                  backgroundColor: form.backgroundColor,
                  ...(form.logo ? { logo: form.logo } : {}),
                });
                toast("Branding saved: the sign-in pages show it now");
                reload();
              } catch (err) {
                setSaveError(describe(err));
              } finally {
                setBusy(false);
              }
            }}
          >
            {saveError && <ErrorBox message={saveError} title="The branding was not saved" />}
            <fieldset class="plain" disabled={!mayEdit}>
              <Field label="Display name" hint="Shown above the sign-in form; the organization's name when empty. At most 64 characters.">
                {(id, by) => <input id={id} class="input" maxLength={64} aria-describedby={by} value={form.displayName} onInput={(e) => set("displayName", e.currentTarget.value)} />}
              </Field>
              <ColorField label="Primary colour" hint="Buttons, links and focus rings. Text on it is black or white, whichever reads." value={form.primaryColor} onChange={(v) => set("primaryColor", v)} />
              <ColorField label="Background colour" hint="The page around the sign-in card, in the light scheme." value={form.backgroundColor} onChange={(v) => set("backgroundColor", v)} />
              <Field label="Logo" hint="PNG or JPEG, at most 64 KB and 1024 pixels on a side. Gatehouse stores and serves it; it is never loaded from elsewhere." error={logoError}>
                {(id, by) => (
                  <div class="logo-input">
                    <input
                      id={id}
                      type="file"
                      accept="image/png,image/jpeg"
                      aria-describedby={by}
                      onChange={async (e) => {
                        const f = e.currentTarget.files?.[0];
                        setLogoError(undefined);
                        if (!f) return;
                        if (f.size > MAX_LOGO) return setLogoError(`This file is ${Math.ceil(f.size / 1024)} KB; the logo may be 64 KB at most.`);
                        if (!["image/png", "image/jpeg"].includes(f.type)) return setLogoError("A PNG or JPEG image, please.");
                        setForm({ ...form, logo: toBase64(await f.arrayBuffer()), logoType: f.type });
                      }}
                    />
                    {form.logo && (
                      <Button size="sm" variant="ghost" onClick={() => setForm({ ...form, logo: undefined, logoType: undefined })}>
                        Remove logo
                      </Button>
                    )}
                  </div>
                )}
              </Field>
            </fieldset>
            {mayEdit && (
              <div class="row-end">
                {data.updatedAt && (
                  <Button variant="danger" onClick={() => setRemoving(true)}>
                    Remove branding
                  </Button>
                )}
                <Button variant="primary" type="submit" busy={busy} disabled={!valid}>
                  Save branding
                </Button>
              </div>
            )}
          </form>
        </Card>
        <Card title="Preview" id="brand-preview">
          <Preview name={form.displayName} primary={form.primaryColor} background={form.backgroundColor} logo={logoSrc} />
        </Card>
      </div>
      <Confirm
        open={removing}
        title="Remove the branding?"
        message="The organization's sign-in pages will look like the platform's again."
        action="Remove"
        onClose={() => setRemoving(false)}
        onConfirm={async () => {
          await request("DELETE", "/api/v1/organizations/{organizationID}/branding", p);
          toast("Branding removed");
          setRemoving(false);
          reload();
        }}
      />
    </div>
  );
}
