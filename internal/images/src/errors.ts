// Typed errors of the image layer store. Each has a stable string code the
// node agent maps onto its own error surface.

export type ImageErrorCode =
  | "layer_not_found"
  | "layer_build_failed"
  | "invalid_digest"
  | "invalid_archive"
  | "unsafe_entry"
  | "image_too_large";

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

/** The archive is not a tar (or an image archive) this importer can read. */
export class TarFormatError extends ImageError {
  constructor(message: string) {
    super("invalid_archive", message);
    this.name = "TarFormatError";
  }
}

/** An entry an image may not contain (path traversal, link escape, device node, setuid...), named. */
export class UnsafeEntryError extends ImageError {
  constructor(
    readonly entry: string,
    message: string,
  ) {
    super("unsafe_entry", `${JSON.stringify(entry)}: ${message}`);
    this.name = "UnsafeEntryError";
  }
}

/** The archive or its unpacked content is over a limit. */
export class ImageTooLargeError extends ImageError {
  constructor(message: string) {
    super("image_too_large", message);
    this.name = "ImageTooLargeError";
  }
}
