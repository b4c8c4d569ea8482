// What the signed-in person may change, so the dashboard offers only what
// will work and says why otherwise. The server decides (internal/authz's
// permission table); these mirror it for the few edits the dashboard makes,
// and a refusal the page did not expect is still shown with its reason.
import type { BoxT, OrgT, UserT } from "./api.ts";

export type Role = NonNullable<OrgT["role"]>;

/** The caller's role in the org; a site admin who is not a member acts as an owner. */
export function effectiveRole(org: OrgT | undefined, user: Pick<UserT, "siteAdmin">): Role | null {
  return org?.role ?? (user.siteAdmin ? "owner" : null);
}

const ADMINS: ReadonlySet<Role | null> = new Set(["owner", "admin"]);

export interface Access {
  role: Role | null;
  username: string;
  siteAdmin: boolean;
}

/** Members, teams and team members: org owners and admins. */
export function canManageOrg(a: Access): boolean {
  return ADMINS.has(a.role);
}

/** Quotas are the operator's cost control: only site admins set them. */
export function canSetQuota(a: Access): boolean {
  return a.siteAdmin;
}

/** Usage and cost: owners, admins and auditors. */
export function canReadUsage(a: Access): boolean {
  return ADMINS.has(a.role) || a.role === "auditor";
}

/** Starting, stopping, deleting and sharing the ports of a box: its owner if a member, or any org owner or admin. */
export function canActOnBox(a: Access, box: Pick<BoxT, "owner">): boolean {
  return ADMINS.has(a.role) || (a.role === "member" && box.owner === a.username);
}

/** Why an edit is not offered, in one sentence. */
export function roleNote(a: Access, what: string, who: string): string {
  return `You are ${a.role ? `a${/^[aeiou]/.test(a.role) ? "n" : ""} ${a.role}` : "not a member"} here: only ${who} may ${what}.`;
}
