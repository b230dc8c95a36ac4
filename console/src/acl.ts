// What the signed-in person may do, from the ACL endpoints: the console
// shows only what they may do (hidden or disabled, never offered and then
// refused).
import { signal } from "@preact/signals";
import { get, type S } from "./api/client";

export type Op = "create" | "read" | "update" | "delete";

export const globalAcl = signal<S["acl"] | null>(null);
export const orgAcl = signal<{ org: string; acl: S["acl"] } | null>(null);

function has(endpoints: S["aclEndpoints"] | undefined, endpoint: string, op: Op): boolean {
  return !!endpoints?.some((e) => e.name === endpoint && e.operations.includes(op));
}

/** canGlobal: a platform-wide permission (platform administrators). */
export function canGlobal(endpoint: string, op: Op): boolean {
  return has(globalAcl.value?.global, endpoint, op);
}

/** can: a permission in the current organization (platform-wide included). */
export function can(endpoint: string, op: Op): boolean {
  if (canGlobal(endpoint, op)) return true;
  const a = orgAcl.value?.acl;
  return has(a?.global, endpoint, op) || has(a?.organization?.endpoints, endpoint, op);
}

/** canInProject: a permission in one project (or organization-wide). */
export function canInProject(endpoint: string, op: Op, project: string): boolean {
  if (can(endpoint, op)) return true;
  return has(orgAcl.value?.acl.projects?.find((p) => p.id === project)?.endpoints, endpoint, op);
}

/** canAnyProject: a permission in at least one project. */
export function canAnyProject(endpoint: string, op: Op): boolean {
  return can(endpoint, op) || !!orgAcl.value?.acl.projects?.some((p) => has(p.endpoints, endpoint, op));
}

export const isPlatformAdmin = () => canGlobal("identity:organizations", "create");

export async function loadGlobalAcl() {
  globalAcl.value = await get<S["acl"]>("/api/v1/acl");
}

// The last call of loadOrgAcl wins: an earlier one answering later (the
// sidebar's organization loaded on a platform page, then another opened)
// must not replace the ACL of the organization now shown.
let latest = 0;

export async function loadOrgAcl(org: string) {
  const n = ++latest;
  const acl = await get<S["acl"]>("/api/v1/organizations/{organizationID}/acl", { organizationID: org });
  if (n === latest) orgAcl.value = { org, acl };
}
