// What every process a person starts in a box shares: the user it runs as
// and its environment.

import { defaultPath } from "./oci-spec.ts";

export { execCapabilities } from "./capabilities.ts";

export interface BoxUser {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

export function boxUser(user: "dev" | "root" | undefined): BoxUser {
  return user === "root"
    ? { uid: 0, gid: 0, name: "root", home: "/root" }
    : { uid: 1000, gid: 1000, name: "dev", home: "/home/dev" };
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The environment of a person's process in the box, as KEY=VALUE strings. */
export function boxEnv(user: BoxUser, ...layers: Array<Record<string, string> | undefined>): string[] {
  const env: Record<string, string> = {
    PATH: defaultPath.slice("PATH=".length),
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
  };
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer ?? {})) {
      if (!envName.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
      env[k] = v;
    }
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}
