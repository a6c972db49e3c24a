import { describe, expect, it } from "vitest";
import { describeDatabase } from "../../../../collector/store/open.js";
import { storeErrorHint } from "../../../../collector/store/sql-store.js";

describe("describeDatabase (the store named in errors and logs, without credentials)", () => {
  it("names host, port and database of a TCP URL, never the password", () => {
    expect(
      describeDatabase({ url: "postgres://q:secret@db.example.net:6543/qosprobe", data_dir: "/x" }),
    ).toBe("PostgreSQL db.example.net:6543/qosprobe");
    expect(describeDatabase({ url: "postgresql://q@db.example.net/qosprobe", data_dir: "/x" })).toBe(
      "PostgreSQL db.example.net:5432/qosprobe",
    );
  });

  it("names the Unix socket directory when ?host= gives one (node-postgres connects there, not to the URL's host)", () => {
    expect(
      describeDatabase({ url: "postgres://q@localhost/qosprobe?host=/var/run/postgresql", data_dir: "/x" }),
    ).toBe("PostgreSQL /var/run/postgresql (Unix socket)/qosprobe");
  });

  it("names PGlite's directory and a URL kept in a file", () => {
    expect(describeDatabase({ data_dir: "/var/lib/q" })).toBe("PGlite /var/lib/q");
    expect(describeDatabase({ url: { file: "/etc/q/url" }, data_dir: "/x" })).toBe(
      "PostgreSQL (url from /etc/q/url)",
    );
  });
});

describe("storeErrorHint (what to do about a connection failure)", () => {
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });

  it("a missing Unix socket: says to check the server and the ?host= directory", () => {
    expect(storeErrorHint(err("ENOENT", "connect ENOENT /nonexistent/.s.PGSQL.5432"))).toMatch(
      /no PostgreSQL socket there: .*\?host= its socket directory/,
    );
  });

  it("a refused TCP connection, a missing database, bad credentials; nothing for other errors", () => {
    expect(storeErrorHint(err("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1"))).toMatch(/listening/);
    expect(storeErrorHint(err("3D000", 'database "x" does not exist'))).toMatch(/createdb/);
    expect(storeErrorHint(err("28P01", "password authentication failed"))).toMatch(/user and password/);
    expect(storeErrorHint(err("ENOENT", "open /etc/qos-probe/database-url"))).toBeUndefined();
  });
});
