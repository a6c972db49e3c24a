import type { VerdictValue } from "../../agent/publish/message.js";

/**
 * Report labels in Chinese and English. The indicator names and requirements come from
 * agent/compliance/thresholds.ts (the specification as data); these are the words around them.
 */
export type Lang = "zh" | "en";

const EN = {
  title: "Internet service quality compliance report",
  period: "Reporting period",
  generated_at: "Generated",
  all_times_utc: "All times are UTC; buckets are aligned to UTC hours, days and calendar months.",
  operator: "Operator",
  from_site: "From site",
  from_province: "From province",
  to: "To site / target",
  to_province: "To province",
  profile: "Profile",
  method: "Method",
  bucket: "Period (UTC)",
  bucket_start: "Bucket start (UTC)",
  bucket_end: "Bucket end (UTC)",
  distance_km: "Distance (km)",
  intervals: "Intervals",
  error_intervals: "Error intervals",
  packets_sent: "Packets sent",
  packets_lost: "Packets lost",
  mean_rtt_ms: "Mean RTT (ms)",
  p95_rtt_ms: "p95 of interval mean RTT (ms)",
  delay_judged_ms: "Delay judged (ms)",
  delay_basis: "Delay basis",
  mean_dv_ms: "Mean delay variation (ms)",
  dv_basis: "Delay variation basis",
  mean_loss: "Mean loss ratio",
  pooled_loss: "Pooled loss ratio (comparison)",
  availability: "Availability",
  windows_available: "Available 5-min windows",
  windows_unavailable: "Unavailable 5-min windows",
  windows_unmeasured: "Unmeasured 5-min windows",
  verdict: "Verdict",
  pair: "Pair",
  chart_rtt: "Mean RTT",
  chart_dv: "Mean delay variation (max − min)",
  chart_loss: "Mean loss ratio",
  chart_time: "Time (UTC)",
  threshold: "limit",
  threshold_one_way_x2: "one-way limit × 2",
  value: "Value",
  overall_row: "Whole period",
  site_capital_note: "Hollow circles: site placed at its province capital (no coordinates configured).",
  map: "Sites and pairs",
  map_note:
    "Equirectangular projection, 73–135°E, 18–54°N. Lines are coloured and dashed by overall verdict.",
  site_unplaced: "Sites without coordinates (not drawn)",
  no_results: "No results in this period.",
  method_note:
    "Means are means over measurement intervals of the per-interval value, as the specification defines them. " +
    "The pooled loss ratio (all lost ÷ all sent) is shown only for comparison. Availability counts aligned " +
    "5-minute windows; windows with no probes are unmeasured and never counted as available.",
} as const;

export type LabelKey = keyof typeof EN;

const ZH: Record<LabelKey, string> = {
  title: "互联网业务通信质量合规报告",
  period: "统计周期",
  generated_at: "生成时间",
  all_times_utc: "所有时间均为协调世界时（UTC）；按UTC整点、整日和自然月分段统计。",
  operator: "运营商",
  from_site: "源站点",
  from_province: "源省份",
  to: "目的站点／目标",
  to_province: "目的省份",
  profile: "指标体系",
  method: "测量方法",
  bucket: "时段（UTC）",
  bucket_start: "时段开始（UTC）",
  bucket_end: "时段结束（UTC）",
  distance_km: "空中距离（公里）",
  intervals: "测量周期数",
  error_intervals: "出错周期数",
  packets_sent: "发送包数",
  packets_lost: "丢失包数",
  mean_rtt_ms: "往返时延平均值（毫秒）",
  p95_rtt_ms: "周期平均时延的95百分位（毫秒）",
  delay_judged_ms: "判定所用时延（毫秒）",
  delay_basis: "时延依据",
  mean_dv_ms: "时延变化平均值（毫秒）",
  dv_basis: "时延变化依据",
  mean_loss: "丢包率平均值",
  pooled_loss: "合并丢包率（对照）",
  availability: "可用性",
  windows_available: "可用5分钟时段",
  windows_unavailable: "不可用5分钟时段",
  windows_unmeasured: "未测量5分钟时段",
  verdict: "判定",
  pair: "测试对",
  chart_rtt: "往返时延平均值",
  chart_dv: "时延变化平均值（最大值−最小值）",
  chart_loss: "丢包率平均值",
  chart_time: "时间（UTC）",
  threshold: "限值",
  threshold_one_way_x2: "单向限值×2",
  value: "数值",
  overall_row: "整个周期",
  site_capital_note: "空心圆点：未配置坐标的站点，位置取其省会。",
  map: "站点与测试对",
  map_note: "等距圆柱投影，东经73–135°，北纬18–54°。连线颜色和线型表示整体判定结果。",
  site_unplaced: "无坐标的站点（未绘制）",
  no_results: "本周期内没有测量结果。",
  method_note:
    "平均值为各测量周期数值的平均值（依据规范定义）。合并丢包率（总丢失包数÷总发送包数）仅供对照。" +
    "可用性按对齐的5分钟时段统计；无探测的时段记为未测量，不计为可用。",
};

const LABELS: Record<Lang, Record<LabelKey, string>> = { en: EN, zh: ZH };

export function label(lang: Lang, key: LabelKey): string {
  return LABELS[lang][key];
}

/** Verdict words; written out so the meaning never depends on colour alone. */
const VERDICT_WORDS: Record<Lang, Record<VerdictValue | "n/a", string>> = {
  en: { pass: "pass", fail: "fail", insufficient: "insufficient data", "n/a": "not required" },
  zh: { pass: "达标", fail: "不达标", insufficient: "数据不足", "n/a": "不要求" },
};

export function verdictWord(lang: Lang, v: VerdictValue | null): string {
  return VERDICT_WORDS[lang][v ?? "n/a"];
}

const BASIS_WORDS: Record<Lang, Record<string, string>> = {
  en: {
    "round-trip": "round trip",
    "one-way": "one way",
    "round-trip-half": "round trip ÷ 2",
    "one-way-forward": "one way, forward",
    "one-way-reverse": "one way, reverse",
  },
  zh: {
    "round-trip": "往返",
    "one-way": "单向",
    "round-trip-half": "往返÷2",
    "one-way-forward": "单向（去程）",
    "one-way-reverse": "单向（回程）",
  },
};

/** A delay or delay-variation basis in words; an unknown basis is shown as is rather than hidden. */
export function basisWord(lang: Lang, basis: string): string {
  return BASIS_WORDS[lang][basis] ?? basis;
}

/** Number formatting that stays the same whatever the host locale: reports must be reproducible. */
export function formatMs(v: number | null): string {
  return v === null ? "—" : v.toFixed(1);
}

export function formatPercent(v: number | null, digits: number): string {
  return v === null ? "—" : `${(v * 100).toFixed(digits)}%`;
}

/** "2026-03-01 00:00" from epoch ms, UTC. */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}
