import type { VerdictValue } from "../../agent/publish/message.js";
import { civil, fromCivil, offsetMinutes } from "../timezone.js";
import { esc } from "./escape.js";

/**
 * Inline SVG drawing for the report: time-series line charts and a longitude/latitude site map.
 * Hand-written rather than a charting library because the page must be one self-contained file with
 * no script and no external resource; a few dozen lines of SVG strings do that, browser chart
 * libraries need JavaScript at view time and server-side ones pull in a DOM or a canvas.
 * No xmlns attribute: inline SVG in an HTML document does not need one.
 */

export interface ChartPoint {
  /** Where the point sits on the time axis (a bucket midpoint), epoch ms. */
  t_ms: number;
  /** null = no value in that bucket: the line breaks there rather than bridging the gap. */
  value: number | null;
}

export interface LineChartInput {
  title: string;
  x_label: string;
  from_ms: number;
  to_ms: number;
  points: readonly ChartPoint[];
  /** Drawn as a dashed line with its label, and always inside the y range. */
  threshold?: { value: number; label: string };
  /** Tick and threshold label text, e.g. ms with one decimal or a percentage. */
  format: (v: number) => string;
  testid?: string;
  /** IANA zone the time axis is labelled in (default UTC). */
  zone?: string;
}

const W = 640;
const H = 220;
// The right margin leaves room for half of the last time label, which is centred on its tick.
const M = { left: 64, right: 34, top: 26, bottom: 40 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

export function lineChart(c: LineChartInput): string {
  const values = c.points.flatMap((p) => (p.value === null ? [] : [p.value]));
  const top = Math.max(...values, c.threshold ? c.threshold.value * 1.2 : 0);
  const yTicks = niceTicks(top > 0 ? top : 1);
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const span = Math.max(1, c.to_ms - c.from_ms);
  const x = (t: number): number => M.left + ((t - c.from_ms) / span) * PLOT_W;
  const y = (v: number): number => M.top + PLOT_H - (v / yMax) * PLOT_H;

  const parts: string[] = [];
  parts.push(`<text x="${M.left}" y="16" class="ct">${esc(c.title)}</text>`);
  for (const v of yTicks) {
    const yy = f(y(v));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" class="grid"/>`);
    parts.push(`<text x="${M.left - 6}" y="${yy}" class="yt">${esc(c.format(v))}</text>`);
  }
  for (const t of timeTicks(c.from_ms, c.to_ms, c.zone)) {
    const xx = f(x(t.ms));
    parts.push(
      `<line x1="${xx}" x2="${xx}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H + 4}" class="axis"/>`,
    );
    parts.push(`<text x="${xx}" y="${M.top + PLOT_H + 16}" class="xt">${esc(t.label)}</text>`);
  }
  const bottom = M.top + PLOT_H;
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${bottom}" y2="${bottom}" class="axis"/>`);
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${bottom}" class="axis"/>`);
  parts.push(`<text x="${M.left + PLOT_W / 2}" y="${H - 4}" class="xl">${esc(c.x_label)}</text>`);

  if (c.threshold) {
    const ty = f(y(c.threshold.value));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${ty}" y2="${ty}" class="limit"/>`);
    const text = `${c.threshold.label} ${c.format(c.threshold.value)}`;
    parts.push(
      `<text x="${W - M.right - 4}" y="${f(y(c.threshold.value) - 4)}" class="lt">${esc(text)}</text>`,
    );
  }

  // One path with a fresh "M" after every gap; a lone point between gaps gets its dot only.
  let d = "";
  let pen = false;
  for (const p of c.points) {
    if (p.value === null) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${f(x(p.t_ms))} ${f(y(p.value))}`;
    pen = true;
  }
  if (d) parts.push(`<path d="${d}" class="series"/>`);
  for (const p of c.points) {
    if (p.value !== null)
      parts.push(`<circle cx="${f(x(p.t_ms))}" cy="${f(y(p.value))}" r="2" class="dot"/>`);
  }

  const testid = c.testid ? ` data-testid="${esc(c.testid)}"` : "";
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}"${testid}>${parts.join("")}</svg>`;
}

/** Round coordinates to 0.1 px: finer is invisible and only bloats the page. */
function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** 0 and 4–6 evenly spaced ticks with a 1/2/5 × 10^k step, the last one ≥ max. */
export function niceTicks(max: number): number[] {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((s) => s * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  // Multiply rather than accumulate so 0.1 + 0.2 rounding never shows up in a label.
  for (let i = 0; i * step < max + step * 1e-9 || ticks.length < 2; i++) ticks.push(i * step);
  if ((ticks[ticks.length - 1] ?? 0) < max - step * 1e-9) ticks.push(ticks.length * step);
  return ticks;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STEPS = [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY];

/**
 * At most ~7 time ticks aligned in `zone` (the report's time zone): hours, days or calendar months of
 * that zone's wall clock depending on the span, labelled in it.
 */
export function timeTicks(
  from_ms: number,
  to_ms: number,
  zone = "UTC",
): Array<{ ms: number; label: string }> {
  const span = to_ms - from_ms;
  const step = STEPS.find((s) => span / s <= 7);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (step === undefined) {
    const months: number[] = [];
    const c = civil(from_ms, zone);
    for (let k = 0, m = fromCivil(zone, c.year, c.month, 1); m <= to_ms; ) {
      if (m >= from_ms) months.push(m);
      k += 1;
      m = fromCivil(zone, c.year, c.month + k, 1);
    }
    const every = Math.max(1, Math.ceil(months.length / 7));
    return months
      .filter((_, i) => i % every === 0)
      .map((ms) => {
        const m = civil(ms, zone);
        return { ms, label: `${m.year}-${pad(m.month)}` };
      });
  }
  // Align to the zone's wall clock (its offset at the start of the range).
  const off = offsetMinutes(from_ms, zone) * 60_000;
  const out: Array<{ ms: number; label: string }> = [];
  for (let t = Math.ceil((from_ms + off) / step) * step - off; t <= to_ms; t += step) {
    const m = civil(t, zone);
    const day = `${pad(m.month)}-${pad(m.day)}`;
    out.push({ ms: t, label: step < DAY ? `${day} ${pad(m.hour)}:${pad(m.minute)}` : day });
  }
  return out;
}

export interface MapSite {
  id: string;
  latitude: number;
  longitude: number;
  /** Placed at its province capital, not at its own coordinates: drawn hollow. */
  approximate: boolean;
}

export interface MapLink {
  from: string;
  to: string;
  verdict: VerdictValue;
  /** e.g. "1890 km"; empty when unknown. */
  label: string;
}

export interface SiteMapInput {
  title: string;
  note: string;
  sites: readonly MapSite[];
  links: readonly MapLink[];
  verdictText: (v: VerdictValue) => string;
  testid?: string;
}

/** China's extent for the map (spec pairs are between mainland provinces). */
export const MAP_EXTENT = { west: 73, east: 135, south: 18, north: 54 } as const;
const PX_PER_DEG = 10;
const MAP_PAD = 28;
/** Wider on the left: the latitude labels sit there. */
const MAP_PAD_LEFT = 48;
const MAP_W = (MAP_EXTENT.east - MAP_EXTENT.west) * PX_PER_DEG + MAP_PAD_LEFT + MAP_PAD;
const MAP_H = (MAP_EXTENT.north - MAP_EXTENT.south) * PX_PER_DEG + 2 * MAP_PAD + 30;

/** Equirectangular: x ∝ longitude, y ∝ −latitude. Crude at 54°N, honest enough to show geography. */
export function project(latitude: number, longitude: number): { x: number; y: number } {
  return {
    x: MAP_PAD_LEFT + (longitude - MAP_EXTENT.west) * PX_PER_DEG,
    y: MAP_PAD + (MAP_EXTENT.north - latitude) * PX_PER_DEG,
  };
}

/** Verdict → line style; the dash pattern carries the verdict too, so colour is not the only cue. */
const LINK_CLASS: Record<VerdictValue, string> = {
  pass: "lk-pass",
  fail: "lk-fail",
  insufficient: "lk-insuf",
};

export function siteMap(m: SiteMapInput): string {
  const inside = (s: MapSite): boolean =>
    s.longitude >= MAP_EXTENT.west &&
    s.longitude <= MAP_EXTENT.east &&
    s.latitude >= MAP_EXTENT.south &&
    s.latitude <= MAP_EXTENT.north;
  const at = new Map(m.sites.filter(inside).map((s) => [s.id, project(s.latitude, s.longitude)]));
  const parts: string[] = [];
  const frame = project(MAP_EXTENT.south, MAP_EXTENT.east);
  parts.push(
    `<rect x="${MAP_PAD_LEFT}" y="${MAP_PAD}" width="${frame.x - MAP_PAD_LEFT}" height="${frame.y - MAP_PAD}" class="frame"/>`,
  );
  for (let lon = 80; lon < MAP_EXTENT.east; lon += 10) {
    const a = project(MAP_EXTENT.north, lon);
    parts.push(`<line x1="${a.x}" x2="${a.x}" y1="${MAP_PAD}" y2="${frame.y}" class="grid"/>`);
    parts.push(`<text x="${a.x}" y="${frame.y + 14}" class="xt">${lon}°E</text>`);
  }
  for (let lat = 20; lat < MAP_EXTENT.north; lat += 10) {
    const a = project(lat, MAP_EXTENT.west);
    parts.push(`<line x1="${MAP_PAD_LEFT}" x2="${frame.x}" y1="${a.y}" y2="${a.y}" class="grid"/>`);
    parts.push(`<text x="${MAP_PAD_LEFT - 4}" y="${a.y}" class="yt">${lat}°N</text>`);
  }
  for (const l of m.links) {
    const a = at.get(l.from);
    const b = at.get(l.to);
    if (!a || !b) continue;
    const title = `${l.from} — ${l.to}: ${m.verdictText(l.verdict)}${l.label ? `, ${l.label}` : ""}`;
    parts.push(
      `<g data-testid="map-link" data-verdict="${l.verdict}"><title>${esc(title)}</title>` +
        `<line x1="${f(a.x)}" y1="${f(a.y)}" x2="${f(b.x)}" y2="${f(b.y)}" class="${LINK_CLASS[l.verdict]}"/>` +
        (l.label
          ? `<text x="${f((a.x + b.x) / 2)}" y="${f((a.y + b.y) / 2 - 4)}" class="dist">${esc(l.label)}</text>`
          : "") +
        `</g>`,
    );
  }
  for (const s of m.sites) {
    const p = at.get(s.id);
    if (!p) continue;
    parts.push(
      `<circle cx="${f(p.x)}" cy="${f(p.y)}" r="4" class="${s.approximate ? "site approx" : "site"}"/>` +
        `<text x="${f(p.x + 6)}" y="${f(p.y - 6)}" class="sl">${esc(s.id)}</text>`,
    );
  }
  // Legend: a line sample and the verdict word for each style.
  const verdicts: VerdictValue[] = ["pass", "fail", "insufficient"];
  verdicts.forEach((v, i) => {
    const lx = MAP_PAD_LEFT + i * 200;
    const ly = MAP_H - 12;
    parts.push(`<line x1="${lx}" x2="${lx + 36}" y1="${ly}" y2="${ly}" class="${LINK_CLASS[v]}"/>`);
    parts.push(`<text x="${lx + 42}" y="${ly + 4}" class="lg">${esc(m.verdictText(v))}</text>`);
  });
  const testid = m.testid ? ` data-testid="${esc(m.testid)}"` : "";
  return (
    `<figure class="map"><svg viewBox="0 0 ${MAP_W} ${MAP_H}" width="${MAP_W}" height="${MAP_H}" role="img" ` +
    `aria-label="${esc(m.title)}"${testid}>${parts.join("")}</svg><figcaption>${esc(m.note)}</figcaption></figure>`
  );
}
