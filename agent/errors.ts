/**
 * One error family for the whole program. Every error has a stable `code` so logs can be grepped and
 * tests can assert on the kind of failure rather than on message text.
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_READ"
  | "CONFIG_SECRET"
  | "PROBE_SETUP"
  | "PROBE_TARGET"
  | "PROBE_FAULT"
  | "PACKET_MALFORMED"
  | "PACKET_AUTH"
  | "STAMP_AUTH"
  | "REFLECTOR_UNREACHABLE"
  | "SEND_FAILED"
  | "OUTBOX_IO"
  | "MQTT"
  | "STORE"
  | "USAGE";

export class QosProbeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /**
   * A fault of the measurement itself (bad key, nothing listening), not of the path: the runner makes
   * the result `status: "fault"` with this code, kept out of path loss (issue 9).
   */
  readonly fault: boolean;
  constructor(
    code: ErrorCode,
    message: string,
    options?: { hint?: string; cause?: unknown; fault?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "QosProbeError";
    this.code = code;
    this.hint = options?.hint;
    this.fault = options?.fault ?? false;
  }
}

/** One problem in one configuration file, rendered `file: path: message (hint)`. */
export interface ConfigIssue {
  file: string;
  path: string;
  message: string;
  hint?: string;
}

/**
 * A rule that could not run because a value it reads has an error of its own: not a problem found,
 * a promise that more checks follow once the listed errors are fixed (validate prints them last).
 */
export interface UncheckedRule {
  path: string;
  message: string;
}

export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.path === "" ? "(root)" : issue.path;
  return `${issue.file}: ${where}: ${issue.message}${issue.hint ? ` (${issue.hint})` : ""}`;
}

export class ConfigError extends QosProbeError {
  readonly issues: ConfigIssue[];
  /** Rules skipped because of the issues (values they read did not parse). */
  readonly unchecked: UncheckedRule[];
  constructor(issues: ConfigIssue[], unchecked: UncheckedRule[] = []) {
    super("CONFIG_INVALID", issues.map(formatConfigIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
    this.unchecked = unchecked;
  }
}

/**
 * A fault of the measurement with its own code for the result (NAME_UNRESOLVABLE, TARGET_REFUSED,
 * TLS_ERROR): the runner turns it into `status: "fault"` with `error.code` = `faultCode` (see
 * ProbeFacts in probe/prober.ts). A plain QosProbeError with `fault: true` gives its ErrorCode instead.
 */
export class ProbeFaultError extends QosProbeError {
  readonly faultCode: string;

  constructor(faultCode: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super("PROBE_FAULT", message, { ...options, fault: true });
    this.name = "ProbeFaultError";
    this.faultCode = faultCode;
  }
}
