import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { QosProbeError } from "../../agent/errors.js";
import type { Logger } from "../../agent/log.js";
import type { ExpectedTest } from "../coverage.js";
import type { RollupPeriod } from "../rollup.js";
import type { ResultStore } from "../store/store.js";
import { WINDOW_MS } from "../windows.js";
import { ReportCache, type ReportCacheOptions } from "./cache.js";
import {
  checkReportRequest,
  DEFAULT_REPORT_LIMITS,
  parseReportTime,
  type ReportFormat,
  type ReportLimits,
  reportFromStore,
  type StoreReportRequest,
} from "./from-store.js";
import type { Lang } from "./i18n.js";
import type { SiteInfo } from "./model.js";

export interface ReportServerOptions {
  store: ResultStore;
  log: Logger;
  /** host:port already split; port 0 picks a free one (tests). */
  host: string;
  port: number;
  lang: Lang;
  period: RollupPeriod;
  window_days: number;
  sites: readonly SiteInfo[];
  /** IANA zone for buckets and printed times (report.timezone). */
  timezone: string;
  coverage_floor: number;
  /** Tests the mesh schedules (from sites_from): shown even when they never reported. */
  expected?: readonly ExpectedTest[];
  limits?: ReportLimits;
  cache?: Partial<ReportCacheOptions>;
  /** The collector's counters, shown by /healthz. */
  counters: () => unknown;
  now?: () => number;
}

const DAY_MS = 86_400_000;
const PERIODS: readonly RollupPeriod[] = ["hour", "day", "month", "all"];
const LANGS: readonly Lang[] = ["zh", "en"];

const ROUTES: Record<string, { format: ReportFormat; type: string } | "healthz" | "sites"> = {
  "/": { format: "html", type: "text/html; charset=utf-8" },
  "/report.csv": { format: "csv", type: "text/csv; charset=utf-8" },
  "/report.json": { format: "json", type: "application/json; charset=utf-8" },
  "/results.jsonl": { format: "results", type: "application/jsonl; charset=utf-8" },
  "/healthz": "healthz",
  "/api/sites": "sites",
};

/**
 * The read-only report server (node:http: four GET routes do not need a framework). GET and HEAD only;
 * every other method is 405, every other path 404. Pages are self-contained: nothing external to load.
 */
export class ReportServer {
  private readonly options: ReportServerOptions;
  private server: Server | null = null;
  private readonly cache: ReportCache;

  constructor(options: ReportServerOptions) {
    this.options = options;
    this.cache = new ReportCache(options.cache);
  }

  /** Listen; resolves with the bound address. */
  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => this.fail(res, err));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new QosProbeError(
            "USAGE",
            `report server cannot listen on ${this.options.host}:${this.options.port}: ${err.code ?? err.message}`,
            {
              hint: "change http.listen in collector.yaml, or set http.enabled: false",
              cause: err,
            },
          ),
        ),
      );
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    this.options.log.info(
      { url: `http://${hostForUrl(address)}:${address.port}/` },
      "collector: report server listening",
    );
    return address;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://collector");
    const route = ROUTES[url.pathname];
    if (route === undefined) return send(res, 404, "text/plain; charset=utf-8", "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "text/plain; charset=utf-8", "method not allowed\n");
    }
    const head = req.method === "HEAD";
    if (route === "healthz") {
      // The store answering a query is what "healthy" means for a collector.
      await this.options.store.listSites();
      return send(
        res,
        200,
        "application/json; charset=utf-8",
        `${JSON.stringify(this.options.counters())}\n`,
        head,
      );
    }
    if (route === "sites") {
      const rows = await this.options.store.listSites();
      return send(res, 200, "application/json; charset=utf-8", `${JSON.stringify(rows)}\n`, head);
    }
    const q = url.searchParams;
    const now = (this.options.now ?? Date.now)();
    const zone = this.options.timezone;
    // The default range ends at the next window boundary, so the same page within 5 minutes is one
    // cache entry instead of a new query per millisecond.
    const defaultTo = Math.ceil(now / WINDOW_MS) * WINDOW_MS;
    let rq: StoreReportRequest;
    try {
      const to_ms = q.has("to") ? parseReportTime(q.get("to") ?? "", "to", zone) : defaultTo;
      const from_ms = q.has("from")
        ? parseReportTime(q.get("from") ?? "", "from", zone)
        : to_ms - this.options.window_days * DAY_MS;
      const lang = pick(q.get("lang"), LANGS, this.options.lang);
      const period = pick(q.get("period"), PERIODS, this.options.period);
      if (lang === null || period === null) {
        throw new QosProbeError("USAGE", "bad query: lang=zh|en, period=hour|day|month|all");
      }
      rq = {
        from_ms,
        to_ms,
        format: route.format,
        lang,
        period,
        sites: this.options.sites,
        generated_at_ms: now,
        timezone: zone,
        coverage_floor: this.options.coverage_floor,
        expected: this.options.expected ?? [],
        limits: this.options.limits ?? DEFAULT_REPORT_LIMITS,
      };
      checkReportRequest(rq);
    } catch (err) {
      const e = err as QosProbeError;
      const hint = e.hint ? ` (${e.hint})` : "";
      return send(res, 400, "text/plain; charset=utf-8", `${e.message}${hint}\n`);
    }
    const key = JSON.stringify([rq.format, rq.lang, rq.period, rq.from_ms, rq.to_ms, zone]);
    const body = await this.cache.get(key, rq.to_ms <= now, now, async () =>
      Buffer.from(await reportFromStore(this.options.store, rq), "utf8"),
    );
    send(res, 200, route.type, body, head);
  }

  /** Hits and misses of the report cache, for /healthz. */
  cacheStats(): { entries: number; hits: number; misses: number } {
    return this.cache.stats();
  }

  private fail(res: ServerResponse, err: unknown): void {
    this.options.log.warn({ err: (err as Error).message }, "collector: report request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, 503, "text/plain; charset=utf-8", "store unavailable\n");
  }
}

function pick<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T | null {
  if (value === null || value === "") return fallback;
  return (allowed as readonly string[]).includes(value) ? (value as T) : null;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headOnly = false,
): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(headOnly ? undefined : body);
}

function hostForUrl(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]` : a.address;
}
