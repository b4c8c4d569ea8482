import { z } from "zod";

/**
 * Names of boxes, orgs, teams, templates and users: DNS-label style, so they
 * are safe in URLs, SSH user names and hostnames (test-catalogue C5). Host
 * paths never use them; those come from server-generated ids.
 */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,62})$/;
const RESERVED = new Set(["con", "nul", "prn", "aux", "api", "new", "me"]);

export const Name = z
  .string()
  .regex(NAME_PATTERN, "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
  .refine((s) => !s.endsWith("-"), "must not end with '-'")
  .refine((s) => !RESERVED.has(s), "is a reserved name");

export const Id = z.string().regex(/^[a-z]+_[0-9a-z]{20}$/, "must be a Boxyard id");
export const Timestamp = z.iso.datetime({ offset: true });

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    code: z.string(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    requestId: z.string().optional(),
  })
  .meta({ id: "Problem" });

export const Empty = z.strictObject({});
