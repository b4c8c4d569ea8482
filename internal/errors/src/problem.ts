import { DomainError } from "./domain-error.ts";

/** An RFC 9457 problem document with Boxyard's stable `code` member. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const TYPE_BASE = "https://boxyard.dev/problems/";

/** Maps any thrown value to a problem document; unknown errors never leak their message. */
export function toProblem(err: unknown, ctx: { instance?: string; requestId?: string } = {}): Problem {
  const e = err instanceof DomainError ? err : new DomainError("internal_error");
  const problem: Problem = {
    ...e.extensions,
    type: TYPE_BASE + e.code.replaceAll("_", "-"),
    title: e.title,
    status: e.status,
    code: e.code,
  };
  if (e.detail) problem.detail = e.detail;
  if (ctx.instance) problem.instance = ctx.instance;
  if (ctx.requestId) problem.requestId = ctx.requestId;
  return problem;
}
