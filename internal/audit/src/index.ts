export { AnchorFile } from "./anchors.ts";
export { canonicalJson, chainHash, GENESIS_HASH } from "./canonical.ts";
export { type AuditActor, type AuditEvent, chainOf, recordAudit } from "./record.ts";
export { type AuditRow, type ChainAnchor, rowToEvent, type VerifyResult, verifyChain } from "./verify.ts";
