// Permissions are data: one table of resource x action with the org roles
// that hold it. Every authorisation decision reads this table; nothing else
// in the code base compares role names.

export const ORG_ROLES = ["owner", "admin", "member", "viewer", "auditor"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

export const permissions = {
  org: { read: ["owner", "admin", "member", "viewer", "auditor"], manage: ["owner", "admin"] },
  member: { read: ["owner", "admin", "member", "viewer"], set: ["owner", "admin"] },
  box: {
    create: ["owner", "admin", "member"],
    read: ["owner", "admin", "member", "viewer"],
    start: ["owner", "admin", "member"],
    stop: ["owner", "admin", "member"],
    pause: ["owner", "admin", "member"],
    resume: ["owner", "admin", "member"],
    delete: ["owner", "admin", "member"],
    connect: ["owner", "admin", "member"],
    exec: ["owner", "admin", "member"],
    share: ["owner", "admin", "member"],
  },
  template: { read: ["owner", "admin", "member", "viewer"], write: ["owner", "admin"] },
  audit: { read: ["owner", "admin", "auditor"] },
  quota: { read: ["owner", "admin", "member", "viewer", "auditor"], set: ["owner", "admin"] },
  usage: { read: ["owner", "admin", "auditor"] },
  // Secret names and scopes (never values: no API returns one). Org- and
  // team-scoped secrets are set by owners and admins; every member may keep
  // secrets of their own (user scope), which only their boxes receive.
  secret: {
    read: ["owner", "admin", "member"],
    write: ["owner", "admin"],
    writeOwn: ["owner", "admin", "member"],
  },
} as const satisfies Record<string, Record<string, readonly OrgRole[]>>;

export type Resource = keyof typeof permissions;
export type Action<R extends Resource> = keyof (typeof permissions)[R];

export function roleAllows<R extends Resource>(role: OrgRole, resource: R, action: Action<R>): boolean {
  const roles = permissions[resource][action] as readonly OrgRole[];
  return roles.includes(role);
}

/**
 * Actions a member may do only to boxes they own; owners and admins may do
 * them to any box of the org.
 */
export const OWNER_SCOPED_BOX_ACTIONS: ReadonlySet<string> = new Set([
  "start",
  "stop",
  "pause",
  "resume",
  "delete",
  "connect",
  "exec",
  "share",
]);
