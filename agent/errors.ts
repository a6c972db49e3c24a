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

export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.path === "" ? "(root)" : issue.path;
  return `${issue.file}: ${where}: ${issue.message}${issue.hint ? ` (${issue.hint})` : ""}`;
}

export class ConfigError extends QosProbeError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super("CONFIG_INVALID", issues.map(formatConfigIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}
