const LABEL = /^[a-z0-9]([a-z0-9-]{0,62})$/;

export interface LoginTarget {
  box: string;
  /** Absent when the user wrote just `BOX`: the box is looked up in the user's orgs. */
  org?: string;
}

/** `BOX.ORG` or `BOX` (contract.md "SSH"); anything else is refused before any lookup. */
export function parseLogin(username: string): LoginTarget | null {
  const parts = username.split(".");
  if (parts.length > 2 || parts.some((p) => !LABEL.test(p) || p.endsWith("-"))) return null;
  const [box, org] = parts as [string, string | undefined];
  return org ? { box, org } : { box };
}
