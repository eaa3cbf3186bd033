/**
 * Errors that reach users. Each carries an exit code the CLI returns, so scripts can tell
 * bad input from a failed check from a crash.
 */
export const ExitCode = {
  ok: 0,
  /** Unexpected failure (a bug, or an engine error we did not anticipate). */
  internal: 1,
  /** Bad command line: unknown option, missing argument. */
  usage: 2,
  /** Input that cannot be used: unreadable file, unsupported model, wrong dataset. */
  input: 3,
  /** A numerical check failed (logits not reproduced, decomposition not exact). */
  check: 4,
  /** Some items (images) failed while others succeeded. */
  partial: 5,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class ProtolensError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.input, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtolensError';
    this.exitCode = exitCode;
  }
}

/** Bad input: a file, tensor, option or dataset that cannot be used as given. */
export class InputError extends ProtolensError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.input, options);
    this.name = 'InputError';
  }
}

/** A numerical guarantee failed to hold (a mismatch is an error, not a warning). */
export class CheckError extends ProtolensError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.check, options);
    this.name = 'CheckError';
  }
}

export class UsageError extends ProtolensError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'UsageError';
  }
}
