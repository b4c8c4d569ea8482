// The API contract shares schemas with the node agent's protocol, whose image
// keys hash with node:crypto. The dashboard never computes one; this stands
// in for node:crypto in the browser bundle and says so if it ever is called.
export function createHash(): never {
  throw new Error("node:crypto is not available in the browser");
}
