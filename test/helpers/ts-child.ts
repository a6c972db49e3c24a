import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/**
 * Tests that need a separate Node process (to SIGKILL it) cannot import .ts there: Node 20 has no type
 * stripping and the repo has no loader (the daemon runs compiled JS). So transpile just the modules the
 * child needs — the entry files and their relative imports — with the TypeScript compiler API into a
 * temp dir whose `node_modules` links to the repo's.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const RELATIVE_IMPORT = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)\.js["']/g;

export interface TranspiledTree {
  dir: string;
  remove(): Promise<void>;
}

/** Transpile `entries` (repo-relative .ts paths) and everything they import relatively. */
export async function transpileForChild(entries: string[]): Promise<TranspiledTree> {
  const dir = await mkdtemp(join(tmpdir(), "qosprobe-child-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await symlink(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
    const pending = entries.map((entry) => resolve(REPO_ROOT, entry));
    const done = new Set<string>();
    while (pending.length > 0) {
      const source = pending.pop()!;
      if (done.has(source)) continue;
      done.add(source);
      const text = await readFile(source, "utf8");
      for (const match of text.matchAll(RELATIVE_IMPORT)) {
        if (match[1]) pending.push(resolve(dirname(source), `${match[1]}.ts`));
      }
      const output = ts.transpileModule(text, {
        fileName: source,
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      });
      const target = join(dir, relative(REPO_ROOT, source)).replace(/\.ts$/, ".js");
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, output.outputText);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
