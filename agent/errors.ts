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
  | "OUTBOX_IO"
  | "MQTT"
  | "STORE"
  | "USAGE";

export class QosProbeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "QosProbeError";
    this.code = code;
    this.hint = options?.hint;
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

/**
 * A fault of the measurement found before or while measuring (name unresolvable, target refused): the
 * runner turns it into `status: "fault"` with `error.code` = `fault` (see ProbeFacts in probe/prober.ts).
 */
export class ProbeFaultError extends QosProbeError {
  readonly fault: string;

  constructor(fault: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super("PROBE_FAULT", message, options);
    this.name = "ProbeFaultError";
    this.fault = fault;
  }
}
