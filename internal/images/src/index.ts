export { buildBusyboxLayer } from "./busybox-layer.ts";
export type { BusyboxLayerOptions } from "./busybox-layer.ts";
export { buildDebianLayer, debianBasePackages, findDebianLayer } from "./debian-layer.ts";
export type { DebianLayerOptions } from "./debian-layer.ts";
export {
  ImageError,
  ImageTooLargeError,
  LayerBuildError,
  LayerNotFoundError,
  TarFormatError,
  UnsafeEntryError,
} from "./errors.ts";
export type { ImageErrorCode } from "./errors.ts";
export { LayerStore } from "./layer-store.ts";
export type { LayerLease, LayerStoreOptions, LayerSweep } from "./layer-store.ts";
export { LayerGc } from "./layer-gc.ts";
export type { LayerGcLogger, LayerGcOptions, LayerGcResult, LayerGcSettings } from "./layer-gc.ts";
export { planLayerGc } from "./layer-gc-plan.ts";
export type {
  LayerFacts,
  LayerGcInput,
  LayerGcPlan,
  LayerGcPolicy,
  LayerRemovalReason,
  PlannedRemoval,
} from "./layer-gc-plan.ts";
export { digestTree } from "./tree-digest.ts";
export {
  checkLayers,
  DEFAULT_UNPACK_LIMITS,
  type LayerSource,
  normalizeEntryPath,
  type UnpackLimits,
  unpackLayers,
} from "./layer-unpack.ts";
export {
  checkImageArchive,
  digestFile,
  type ImageArchive,
  type ImageArchiveFormat,
  type ImageConfig,
  type ImportOciOptions,
  importOciArchive,
  readImageArchive,
} from "./oci-archive.ts";
export { readTar, type TarEntry, type TarEntryType, type TarEntryWithBody } from "./tar.ts";
export { sha256, type TarWriteEntry, writeTar } from "./tar-writer.ts";
export { type BuiltImageArchive, buildImageArchive } from "./image-archive-builder.ts";
