import { readdir, readFile } from "node:fs/promises";

/** Resident memory of one process by kind of mapping, in KiB (Rss of /proc/<pid>/smaps, proc(5)). */
export interface SmapsBreakdown {
  /** The node executable's own file pages (text, read-only data, the start-up snapshot). */
  node_binary: number;
  /** Shared libraries (*.so*): libc, libstdc++, OpenSSL when dynamically linked, addons such as koffi. */
  shared_libs: number;
  /** The main malloc arena ([heap], brk). */
  malloc_main: number;
  /** Thread stacks: anonymous mappings of 8 MiB + a guard page ([stack] of the main thread included). */
  stacks: number;
  /**
   * Every other anonymous mapping: V8's heaps (pages of 256 KiB) of both isolates (main thread and the
   * reflector's worker), code space, zone memory, large buffers, and the malloc arenas of other threads.
   */
  anon_other: number;
  /** Any other file-backed mapping. */
  other_files: number;
  total: number;
  /** Threads by name (/proc/<pid>/task/<tid>/comm), "name×count". */
  threads: string[];
}

const KIB = 1024;

/**
 * Reads /proc/<pid>/smaps and sums each mapping's Rss into the kinds above. The kind of an anonymous
 * mapping is told from its size (thread stacks default to 8 MiB), so the split is an estimate, not an
 * attribution V8 itself makes; V8's heap, zones and other threads' malloc arenas are alike to smaps. Errors: ENOENT once the process is gone.
 */
export async function smapsBreakdown(pid: number, execPath: string): Promise<SmapsBreakdown> {
  const text = await readFile(`/proc/${pid}/smaps`, "utf8");
  const out: SmapsBreakdown = {
    node_binary: 0,
    shared_libs: 0,
    malloc_main: 0,
    stacks: 0,
    anon_other: 0,
    other_files: 0,
    total: 0,
    threads: [],
  };
  let kind: Exclude<keyof SmapsBreakdown, "threads" | "total"> = "anon_other";
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (Number.parseInt(head[2] ?? "0", 16) - Number.parseInt(head[1] ?? "0", 16)) / KIB;
      const path = head[3] ?? "";
      if (path === execPath) kind = "node_binary";
      else if (/\.so(\.|$)/.test(path)) kind = "shared_libs";
      else if (path === "[heap]") kind = "malloc_main";
      else if (path === "[stack]") kind = "stacks";
      else if (path.startsWith("/")) kind = "other_files";
      else if (path !== "")
        kind = "anon_other"; // [vvar], [vdso], [anon:…]
      else if (size === 8 * KIB || size === 8 * KIB + 4) kind = "stacks";
      else kind = "anon_other";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      out[kind] += Number(rss[1]);
      out.total += Number(rss[1]);
    }
  }
  const names = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const name = (await readFile(`/proc/${pid}/task/${tid}/comm`, "utf8").catch(() => "?")).trim();
    names.set(name, (names.get(name) ?? 0) + 1);
  }
  out.threads = [...names].map(([n, c]) => (c > 1 ? `${n}×${c}` : n));
  return out;
}

/** Table rows for a breakdown, in MiB. */
export function smapsRows(b: SmapsBreakdown): string[][] {
  const mib = (kb: number) => (kb / KIB).toFixed(1);
  return [
    ["smaps: node binary file pages MiB", mib(b.node_binary)],
    ["smaps: shared libraries MiB", mib(b.shared_libs)],
    ["smaps: anonymous (V8 heaps, code, zones, arenas) MiB", mib(b.anon_other)],
    ["smaps: malloc [heap] MiB", mib(b.malloc_main)],
    ["smaps: stacks MiB", mib(b.stacks)],
    ["smaps: other files MiB", mib(b.other_files)],
    ["smaps: total MiB", mib(b.total)],
    ["threads", b.threads.join(" ")],
  ];
}
