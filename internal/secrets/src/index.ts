export { type SealedSecret, SecretKeyError, SecretKeyring } from "./keyring.ts";
export { loadSecretKeyring, type MasterKeySource, parseMasterKey, SECRETS_KEY_FILE } from "./master-key.ts";
