// Sign-in through Gatehouse's own OpenID provider: authorization code with
// PKCE S256 as the public client gatehouse-console. Tokens live in memory
// only (a reload signs in again, silently while the provider's browser
// session lasts); the refresh token is rotated at every use. Only the
// PKCE verifier, state and nonce of a login in flight are kept in
// sessionStorage, for the length of the redirect.
import { signal } from "@preact/signals";

export const CLIENT_ID = "gatehouse-console";
const BASE = "/console/";
const FLIGHT = "gatehouse.console.login";
const SIGNED_OUT = "gatehouse.console.signedout";

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
  revocation_endpoint?: string;
}

export interface Claims {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  given_name?: string;
  family_name?: string;
  iss?: string;
  auth_time?: number;
  [k: string]: unknown;
}

interface Tokens {
  access: string;
  refresh?: string;
  idToken?: string;
  expiresAt: number;
}

let discovery: Discovery | undefined;
let tokens: Tokens | undefined;
let refreshing: Promise<void> | undefined;

/** The signed-in person (ID token claims, completed by userinfo). */
export const me = signal<Claims | null>(null);

const origin = () => location.origin;
const redirectURI = () => origin() + BASE + "callback";

async function discover(): Promise<Discovery> {
  if (!discovery) {
    const res = await fetch(origin() + "/.well-known/openid-configuration");
    if (!res.ok) throw new Error("The sign-in service is not available (discovery failed).");
    discovery = (await res.json()) as Discovery;
  }
  return discovery;
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  bytes.forEach((b) => (s += String.fromCharCode(b)));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n = 32): string {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function challenge(verifier: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(d));
}

function decodeJWT(jwt: string): Claims {
  const part = jwt.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(decodeURIComponent(escape(json))) as Claims;
}

/** signIn sends the browser to the provider's login page. */
export async function signIn(returnTo = location.pathname + location.search): Promise<never> {
  const d = await discover();
  const verifier = random(48);
  const state = random();
  const nonce = random();
  sessionStorage.setItem(FLIGHT, JSON.stringify({ verifier, state, nonce, returnTo }));
  sessionStorage.removeItem(SIGNED_OUT);
  const u = new URL(d.authorization_endpoint);
  u.search = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: redirectURI(),
    scope: "openid profile email offline_access",
    state,
    nonce,
    code_challenge: await challenge(verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(u.toString());
  return new Promise<never>(() => {});
}

async function tokenRequest(body: Record<string, string>): Promise<void> {
  const d = await discover();
  const res = await fetch(d.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...body }).toString(),
  });
  const t = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || typeof t.access_token !== "string") {
    throw new Error(String(t.error_description ?? t.error ?? "The sign-in could not be completed."));
  }
  tokens = {
    access: t.access_token,
    refresh: typeof t.refresh_token === "string" ? t.refresh_token : tokens?.refresh,
    idToken: typeof t.id_token === "string" ? t.id_token : tokens?.idToken,
    expiresAt: Date.now() + Number(t.expires_in ?? 300) * 1000,
  };
}

export type Start = { state: "signed-in" } | { state: "signed-out" } | { state: "error"; message: string };

/**
 * start completes a login coming back to /console/callback, or starts one.
 * After an explicit sign-out it stays on the signed-out page instead.
 */
export async function start(): Promise<Start> {
  if (location.pathname === BASE + "callback") {
    const p = new URLSearchParams(location.search);
    const flight = JSON.parse(sessionStorage.getItem(FLIGHT) ?? "null") as
      | { verifier: string; state: string; nonce: string; returnTo: string }
      | null;
    sessionStorage.removeItem(FLIGHT);
    if (p.get("error")) return { state: "error", message: p.get("error_description") ?? p.get("error") ?? "" };
    if (!flight || flight.state !== p.get("state") || !p.get("code")) {
      return { state: "error", message: "This sign-in link is stale or was not started here. Sign in again." };
    }
    try {
      await tokenRequest({
        grant_type: "authorization_code",
        code: p.get("code")!,
        redirect_uri: redirectURI(),
        code_verifier: flight.verifier,
      });
      const claims = decodeJWT(tokens!.idToken ?? "");
      const d = await discover();
      const aud = claims.aud;
      if (claims.iss !== d.issuer || claims.nonce !== flight.nonce || !(aud === CLIENT_ID || (Array.isArray(aud) && aud.includes(CLIENT_ID)))) {
        tokens = undefined;
        return { state: "error", message: "The sign-in answer was not meant for this console." };
      }
      me.value = claims;
      void loadUserinfo();
      const back = flight.returnTo.startsWith(BASE) && !flight.returnTo.startsWith(BASE + "callback") ? flight.returnTo : BASE;
      history.replaceState(null, "", back);
      return { state: "signed-in" };
    } catch (e) {
      return { state: "error", message: e instanceof Error ? e.message : String(e) };
    }
  }
  if (sessionStorage.getItem(SIGNED_OUT)) return { state: "signed-out" };
  return signIn();
}

async function loadUserinfo() {
  const d = await discover();
  if (!d.userinfo_endpoint || !tokens) return;
  const res = await fetch(d.userinfo_endpoint, { headers: { Authorization: "Bearer " + tokens.access } });
  if (res.ok) me.value = { ...(me.value ?? {}), ...((await res.json()) as Claims) };
}

/** accessToken returns a live access token, refreshing it (rotation) when it is about to expire. */
export async function accessToken(): Promise<string> {
  if (!tokens) return signIn();
  if (tokens.expiresAt - Date.now() < 30_000 && tokens.refresh) {
    refreshing ??= tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh }).finally(() => (refreshing = undefined));
    try {
      await refreshing;
    } catch {
      tokens = undefined;
      return signIn();
    }
  }
  return tokens.access;
}

/** signOut revokes the refresh token and ends the provider's session. */
export async function signOut(): Promise<void> {
  const d = await discover();
  const t = tokens;
  tokens = undefined;
  me.value = null;
  sessionStorage.setItem(SIGNED_OUT, "1");
  if (t?.refresh && d.revocation_endpoint) {
    await fetch(d.revocation_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: t.refresh, token_type_hint: "refresh_token" }).toString(),
    }).catch(() => undefined);
  }
  if (d.end_session_endpoint) {
    const u = new URL(d.end_session_endpoint);
    const q = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: origin() + BASE });
    if (t?.idToken) q.set("id_token_hint", t.idToken);
    u.search = q.toString();
    location.assign(u.toString());
    return;
  }
  location.assign(BASE);
}
