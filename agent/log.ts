import { type Logger, pino } from "pino";

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Force pretty output; by default pretty only when stderr is a TTY. */
  pretty?: boolean;
  name?: string;
}

/**
 * Logs go to stderr so that stdout stays clean for `--json` output and reports. JSON for machines,
 * pino-pretty when a person is watching a terminal.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.QOSPROBE_LOG_LEVEL ?? "info";
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  const base = { name: options.name ?? "qos-probe" };
  if (pretty) {
    return pino({
      level,
      ...base,
      transport: {
        target: "pino-pretty",
        options: { destination: 2, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" },
      },
    });
  }
  return pino({ level, ...base }, pino.destination(2));
}

/** A logger that writes nothing, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
