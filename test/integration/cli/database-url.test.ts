import { describe, expect, it } from "vitest";
import { DEFAULT_PGLITE_DIR } from "../../../collector/report-role.js";
import { runCli } from "../../helpers/cli-run.js";

/**
 * `config status --database-url notaurl` exited 1 with getaddrinfo ENOTFOUND (node-postgres took it for
 * a host name). A value that is not a postgres:// URL is a usage error of every read command: exit 2,
 * the flag and the expected form named, no connection attempted.
 */

const HINT = `for the collector's PGlite store give its directory as --data-dir DIR (database.data_dir; default ${DEFAULT_PGLITE_DIR}), or --config collector.yaml`;

describe("--database-url that is not a PostgreSQL URL", () => {
  it("config status, gaps and report exit 2 naming the flag and postgres://…, not ENOTFOUND", async () => {
    for (const args of [
      ["config", "status"],
      ["gaps"],
      ["report", "--from", "2026-11-01", "--to", "2026-12-01"],
    ]) {
      const r = await runCli([...args, "--database-url", "notaurl"]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        'qos-probe: --database-url "notaurl" is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or postgresql://…)\n' +
          `  hint: ${HINT}\n`,
      );
    }
  });

  it("a PGlite directory given as --database-url points to --data-dir; a value with a password is not echoed", async () => {
    const dir = await runCli([
      "config",
      "status",
      "--database-url",
      "/var/lib/qos-probe-collector/pglite",
      "--json",
    ]);
    expect(dir.code).toBe(2);
    expect(JSON.parse(dir.stdout).error).toEqual({
      code: "USAGE",
      message:
        '--database-url "/var/lib/qos-probe-collector/pglite" is not a PostgreSQL URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or postgresql://…)',
      hint: HINT,
    });
    const secret = await runCli(["gaps", "--database-url", "postgres//qp:s3cret@db/qosprobe"]);
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain(
      "--database-url (value not shown: it may hold a password) is not a PostgreSQL URL",
    );
    expect(secret.stderr).not.toContain("s3cret");
  });
});
