// Typed errors of the image layer store. Each has a stable string code the
// node agent maps onto its own error surface.

export type ImageErrorCode = "layer_not_found" | "layer_build_failed" | "invalid_digest";

export class ImageError extends Error {
  readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ImageError";
    this.code = code;
  }
}

export class LayerNotFoundError extends ImageError {
  constructor(digest: string) {
    super("layer_not_found", `image layer ${digest} is not in the layer store`);
    this.name = "LayerNotFoundError";
  }
}

export class LayerBuildError extends ImageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("layer_build_failed", message, options);
    this.name = "LayerBuildError";
  }
}
