/**
 * Errors meant for the user: one line, naming the file and the problem.
 * The CLI prints `message` alone (no stack) for these; anything else is a bug.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** Corrupt or unsupported compressed data. `format` is e.g. "xz", "lz4", "zstd". */
export class DecompressError extends UserError {
  override name = 'DecompressError';
  constructor(
    readonly format: string,
    detail: string,
  ) {
    super(`${format}: ${detail}`);
  }
}
