// The console's only way to the server: /api/v1 with the signed-in person's
// access token. Paths are the keys of the generated `paths` type, so a path
// the API no longer has fails the type check (npm run typecheck).
import type { components, paths } from "./schema.gen";
import { accessToken } from "../auth";

export type S = components["schemas"];
export type ApiPath = keyof paths;

/** An error answer of the API, in words: error_description, never JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly errorType?: string,
  ) {
    super(description);
  }
}

type Query = Record<string, string | number | boolean | undefined | null | (string | number)[]>;

export interface Answer<T> {
  data: T;
  headers: Headers;
  status: number;
}

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = params[k];
    if (v === undefined) throw new Error(`missing path parameter ${k}`);
    // "@" is a legal character of a path segment (RFC 3986 pchar) and the
    // API's email parameters match it unescaped (/localaccounts/{email}).
    return encodeURIComponent(v).replace(/%40/g, "@");
  });
}

/** request calls one API operation. */
export async function request<T = unknown>(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: ApiPath,
  params: Record<string, string> = {},
  opts: { query?: Query; body?: unknown } = {},
): Promise<Answer<T>> {
  let url = fill(path, params);
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
    else q.set(k, String(v));
  }
  if ([...q].length) url += "?" + q.toString();
  const headers: Record<string, string> = { Accept: "application/json", Authorization: "Bearer " + (await accessToken()) };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const e = (data ?? {}) as { error?: string; error_description?: string; errorType?: string };
    throw new ApiError(res.status, e.error ?? "error", e.error_description ?? describeStatus(res.status), e.errorType);
  }
  return { data: data as T, headers: res.headers, status: res.status };
}

function describeStatus(status: number): string {
  switch (status) {
    case 401:
      return "Your session has ended. Sign in again.";
    case 403:
      return "You are not allowed to do this.";
    case 404:
      return "It does not exist (any more).";
    case 429:
      return "Too many requests: wait a moment and try again.";
    case 503:
      return "The server is temporarily unavailable: try again in a moment.";
  }
  return `The server answered ${status}.`;
}

export const get = <T>(path: ApiPath, params?: Record<string, string>, query?: Query) =>
  request<T>("GET", path, params, { query }).then((a) => a.data);
export const post = <T>(path: ApiPath, params: Record<string, string>, body?: unknown) =>
  request<T>("POST", path, params, { body: body ?? {} }).then((a) => a.data);
export const put = <T>(path: ApiPath, params: Record<string, string>, body: unknown) =>
  request<T>("PUT", path, params, { body }).then((a) => a.data);
export const del = (path: ApiPath, params: Record<string, string>) => request("DELETE", path, params).then(() => undefined);

/** getAll reads every page of a token-paged list (at most max items). */
export async function getAll<T>(path: ApiPath, params: Record<string, string> = {}, max = 1000): Promise<T[]> {
  const items: T[] = [];
  let pageToken: string | undefined;
  for (;;) {
    const a = await request<T[]>("GET", path, params, { query: { limit: Math.min(500, max - items.length), pageToken } });
    items.push(...(a.data ?? []));
    pageToken = a.headers.get("X-Next-Page-Token") ?? undefined;
    if (!pageToken || items.length >= max) return items;
  }
}

/** Words for the seed's cloud error types (errorType of cloud operations). */
export const cloudErrorWords: Record<string, string> = {
  UNKNOWN: "An unknown error occurred at the cloud provider.",
  INVALID_REQUEST: "The request is not valid for this cloud connection.",
  ACCESS_NODE_COMMUNICATION_FAILED: "Gatehouse's access node could not be reached.",
  SERVICE_ENDPOINT_NOT_REACHABLE: "The cloud provider's endpoint could not be reached.",
  CREDENTIAL_INVALID: "The credential was refused by the cloud provider.",
  NOT_ENOUGH_PERMISSIONS: "The credential lacks the permissions needed.",
  ALL_ACCOUNTS_FAILED_DISCOVERY: "No account of the organization could be discovered.",
};

/** describe turns any error into a sentence for people. */
export function describe(e: unknown): string {
  if (e instanceof ApiError) {
    const words = e.errorType ? cloudErrorWords[e.errorType] : undefined;
    return words ? `${words} ${e.description}` : e.description;
  }
  if (e instanceof Error) return e.message;
  return "Something went wrong.";
}
