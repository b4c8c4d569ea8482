// Every error code the public API can return, with its HTTP status and a
// stable title. Codes are part of the contract: clients switch on them, so a
// code is never renamed or reused for a different meaning. Modules add codes
// here rather than inventing them at the throw site.

export const errorCatalogue = {
  // Generic request problems.
  validation_failed: { status: 400, title: "The request is not valid" },
  invalid_json: { status: 400, title: "The request body is not valid JSON" },
  unsupported_media_type: { status: 415, title: "The request body must be application/json" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  route_not_found: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Not allowed" },
  rate_limited: { status: 429, title: "Too many requests" },
  // nginx's 499: the client went away before the answer; nobody reads it, the logs do.
  request_cancelled: { status: 499, title: "The client closed the request" },
  idempotency_key_reused: { status: 422, title: "Idempotency-Key was used with a different request" },
  idempotency_key_in_flight: {
    status: 409,
    title: "A request with this Idempotency-Key is still in progress",
  },
  conflict: { status: 409, title: "The resource changed; retry with fresh state" },
  internal_error: { status: 500, title: "Internal server error" },
  database_unavailable: { status: 503, title: "The database is unavailable; retry shortly" },
  not_ready: { status: 503, title: "The server is not ready yet" },

  // Users and tokens.
  user_not_found: { status: 404, title: "No such user" },
  user_exists: { status: 409, title: "A user with this name already exists" },
  token_not_found: { status: 404, title: "No such token" },
  ssh_key_invalid: { status: 400, title: "The SSH public key is not valid" },
  ssh_key_exists: { status: 409, title: "This SSH key is already registered" },
  ssh_key_not_found: { status: 404, title: "No such SSH key" },
  login_failed: { status: 403, title: "Login refused" },
  csrf_failed: { status: 403, title: "Missing or wrong CSRF token" },
  oidc_not_configured: { status: 404, title: "Single sign-on is not configured on this server" },

  // Orgs and tenancy.
  org_not_found: { status: 404, title: "No such organisation" },
  org_exists: { status: 409, title: "An organisation with this name already exists" },
  quota_exceeded: { status: 429, title: "Quota exceeded" },
  team_not_found: { status: 404, title: "No such team" },
  team_exists: { status: 409, title: "A team with this name already exists in this organisation" },

  // Boxes and their lifecycle.
  box_not_found: { status: 404, title: "No such box" },
  box_exists: { status: 409, title: "A box with this name already exists in this organisation" },
  invalid_transition: { status: 409, title: "The box cannot make this change from its current state" },
  box_not_running: { status: 409, title: "The box is not running" },
  template_not_found: { status: 404, title: "No such template" },
  image_not_found: { status: 404, title: "No such image" },
  image_invalid: { status: 400, title: "The upload is not an image archive this server can read" },
  image_unsafe: { status: 422, title: "The image contains an entry that is not allowed" },
  image_too_large: { status: 413, title: "The image is larger than this server allows" },
  template_build_failed: {
    status: 409,
    title: "The image build of this template version failed; push a fixed version",
  },
  prebuild_not_found: { status: 404, title: "No such prebuild" },
  operation_not_found: { status: 404, title: "No such operation" },
  no_capacity: { status: 503, title: "No node has capacity for this box" },
  exec_failed: { status: 502, title: "The command could not be run in the box" },

  // Secrets.
  secret_not_found: { status: 404, title: "No such secret" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalogue, code);
}
