export { buildBusyboxLayer } from "./busybox-layer.ts";
export type { BusyboxLayerOptions } from "./busybox-layer.ts";
export { buildDebianLayer, debianBasePackages, findDebianLayer } from "./debian-layer.ts";
export type { DebianLayerOptions } from "./debian-layer.ts";
export { ImageError, LayerBuildError, LayerNotFoundError } from "./errors.ts";
export type { ImageErrorCode } from "./errors.ts";
export { LayerStore } from "./layer-store.ts";
export type { LayerStoreOptions } from "./layer-store.ts";
export { digestTree } from "./tree-digest.ts";
