import { describe, expect, it } from "vitest";
import { describeDatabase } from "../../../../collector/store/open.js";

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
