import { greatCircleKm } from "../../agent/config/geo.js";
import { findProvince } from "../../agent/config/provinces.js";
import type { VerdictValue } from "../../agent/publish/message.js";
import type { KeyAttributes, RollupKey } from "../windows.js";
import type { Lang } from "./i18n.js";

/**
 * Where the report's sites are and which lines join them on the map: coordinates from the
 * configuration, else the province capital, else nowhere (listed, not drawn, never guessed).
 */

/** Where a site is, from the configuration; without coordinates the province capital stands in. */
export interface SiteInfo {
  site: string;
  province: string;
  /** Limits the entry to one operator's site (site ids are unique per operator only). */
  operator?: string;
  latitude?: number;
  longitude?: number;
  /** The agent's registered Ed25519 device key (mesh sites[].device_key), for result signatures. */
  device_key?: { kty: "OKP"; crv: "Ed25519"; x: string };
}

export interface ReportSite {
  site: string;
  province: string;
  province_name: string | null;
  latitude: number | null;
  longitude: number | null;
  placed: "config" | "province-capital" | "unplaced";
}

/** One line on the map per site pair (both directions and all methods folded: worst verdict wins). */
export interface ReportLink {
  from: string;
  to: string;
  distance_km: number | null;
  verdict: VerdictValue;
}

/** What placing sites and drawing links needs from a report pair. */
export type LinkedPair = Pick<
  RollupKey & KeyAttributes,
  "from_site" | "from_province" | "to" | "to_kind" | "to_province"
> & {
  distance_km: number | null;
  overall_verdict: VerdictValue;
};

/** Every site one operator's pairs mention (raw targets are not sites), sorted by id. */
export function placeSites(
  operator: string,
  pairs: readonly LinkedPair[],
  lang: Lang,
  infos: readonly SiteInfo[],
): ReportSite[] {
  const sites = new Map<string, ReportSite>();
  for (const p of pairs) {
    if (!sites.has(p.from_site)) {
      sites.set(p.from_site, placeSite(operator, p.from_site, p.from_province, lang, infos));
    }
    if (p.to_kind === "site" && !sites.has(p.to)) {
      sites.set(p.to, placeSite(operator, p.to, p.to_province ?? "", lang, infos));
    }
  }
  return [...sites.values()].sort((x, y) => (x.site < y.site ? -1 : x.site > y.site ? 1 : 0));
}

/** One line per site pair: both directions and all methods fold into it, the worst verdict winning. */
export function mapLinks(pairs: readonly LinkedPair[], placed: readonly ReportSite[]): ReportLink[] {
  const sites = new Map(placed.map((s) => [s.site, s]));
  const links = new Map<string, ReportLink>();
  for (const p of pairs) {
    if (p.to_kind !== "site") continue;
    const [a, b] = [p.from_site, p.to].sort() as [string, string];
    const id = JSON.stringify([a, b]);
    const prev = links.get(id);
    const distance_km = p.distance_km ?? prev?.distance_km ?? configuredDistance(sites.get(a), sites.get(b));
    const verdict = prev ? worseOf(prev.verdict, p.overall_verdict) : p.overall_verdict;
    links.set(id, { from: a, to: b, distance_km, verdict });
  }
  return [...links.values()];
}

function placeSite(
  operator: string,
  site: string,
  province: string,
  lang: Lang,
  infos: readonly SiteInfo[],
): ReportSite {
  const info = infos.find((i) => i.site === site && (i.operator === undefined || i.operator === operator));
  const prov = findProvince(info?.province ?? province);
  const base = {
    site,
    province: info?.province ?? province,
    province_name: provinceName(info?.province ?? province, lang),
  };
  if (info?.latitude !== undefined && info.longitude !== undefined) {
    return { ...base, latitude: info.latitude, longitude: info.longitude, placed: "config" };
  }
  if (prov) {
    return {
      ...base,
      latitude: prov.capital.latitude,
      longitude: prov.capital.longitude,
      placed: "province-capital",
    };
  }
  return { ...base, latitude: null, longitude: null, placed: "unplaced" };
}

export function provinceName(codeOrName: string, lang: Lang): string | null {
  const prov = findProvince(codeOrName);
  if (!prov) return null;
  return lang === "zh" ? prov.zh_short : prov.en;
}

/** Only configured coordinates give a distance worth printing; two capitals would be a guess. */
function configuredDistance(a: ReportSite | undefined, b: ReportSite | undefined): number | null {
  if (a?.placed !== "config" || b?.placed !== "config") return null;
  return greatCircleKm(
    { latitude: a.latitude!, longitude: a.longitude! },
    { latitude: b.latitude!, longitude: b.longitude! },
  );
}

const SEVERITY: Record<VerdictValue, number> = { pass: 0, insufficient: 1, fail: 2 };

function worseOf(a: VerdictValue, b: VerdictValue): VerdictValue {
  return SEVERITY[a] >= SEVERITY[b] ? a : b;
}
