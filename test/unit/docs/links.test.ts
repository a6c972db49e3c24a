import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * What a reader of a clone can open: every relative link and every `path.md` the README and docs/ name
 * resolves to a file in the repository (a newcomer found `../shared/DESIGN.md`, which only exists on the
 * machine the project was written on).
 */

const ROOT = join(import.meta.dirname, "../../..");
const DOCS = ["README.md", ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith(".md"),
);

/** Markdown link targets `](x)` and code spans naming a markdown or source path. */
function references(text: string): string[] {
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? "");
  const spans = [...text.matchAll(/`([^`\s]*\/[^`\s]*\.md)`/g)].map((m) => m[1] ?? "");
  return [...links, ...spans].filter((l) => !/^[a-z]+:/i.test(l) && !l.startsWith("#"));
}

describe("documentation links", () => {
  it.each(DOCS)("%s links only files that exist in the repository", (doc) => {
    const text = readFileSync(join(ROOT, doc), "utf8");
    const broken = references(text)
      .map((ref) => ref.replace(/#.*$/, ""))
      .filter((ref) => {
        const target = normalize(join(ROOT, dirname(doc), ref));
        return relative(ROOT, target).startsWith("..") || !existsSync(target);
      });
    expect(broken).toEqual([]);
  });

  it("the README says where the architecture is described", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toMatch(/## Architecture/);
  });
});
