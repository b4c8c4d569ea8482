export { type ErrorCode, errorCatalogue, isErrorCode } from "./catalogue.ts";
export { DomainError, type DomainErrorOptions, isDomainError } from "./domain-error.ts";
export { PROBLEM_CONTENT_TYPE, type Problem, toProblem } from "./problem.ts";
