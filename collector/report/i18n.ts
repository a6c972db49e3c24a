import type { VerdictValue } from "../../agent/publish/message.js";

/**
 * Report labels in Chinese and English. The indicator names and requirements come from
 * agent/compliance/thresholds.ts (the specification as data); these are the words around them.
 */
export type Lang = "zh" | "en";

const EN = {
  title: "Internet service quality compliance report",
  test_id: "Test",
  packet_size: "Packet size (bytes)",
  timezone: "Time zone",
  times_in_zone: "Hours, days and months are cut in the time zone above; every time carries its UTC offset.",
  coverage: "Coverage",
  coverage_note:
    "Coverage = measured ÷ expected 5-minute windows (a window is measured when probes covered at least half of it). Below the floor every verdict is “insufficient data”.",
  coverage_floor: "Coverage floor",
  insufficient_note:
    "◔ insufficient data: fewer 5-minute windows were measured than the coverage floor asks, or no interval could be judged. It is neither a pass nor a fail: the pair needs more measurement before it can be judged.",
  insufficient_coverage: "only {measured} of {expected} windows measured, under the {floor} floor",
  insufficient_no_interval: "no interval to judge (none measured, or all kept out of verdicts)",
  windows_expected: "Expected 5-min windows",
  windows_measured: "Measured 5-min windows",
  fault_intervals: "Fault intervals",
  flagged_integrity: "Flagged intervals (aborted, RTT below light bound)",
  flagged_timing: "Flagged intervals (host timing, clock step)",
  flagged_unsynced: "Clock-unsynced intervals",
  dv_excluded_few: "Intervals with < 2 packets received (no DV)",
  diagnostic_intervals: "Diagnostic intervals",
  mean_dv_round_trip_ms: "Mean DV round trip (ms)",
  mean_dv_one_way_forward_ms: "Mean DV one way forward (ms)",
  mean_dv_one_way_reverse_ms: "Mean DV one way reverse (ms)",
  mean_one_way_ms: "Mean one-way delay (ms)",
  faults_title: "Measurement faults and errors (not path loss; they count against coverage)",
  faults_none: "No measurement faults or errors in this period.",
  fault_status: "Kind",
  fault_code: "Code",
  fault_count: "Intervals",
  fault_last_at: "Last seen",
  fault_last_message: "Last message",
  kept_out: "kept out of verdicts",
  period: "Reporting period",
  generated_at: "Generated",
  operator: "Operator",
  from_site: "From site",
  from_province: "From province",
  to: "To site / target",
  to_province: "To province",
  profile: "Profile",
  method: "Method",
  bucket: "Period",
  bucket_start: "Bucket start",
  bucket_end: "Bucket end",
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
  chart_time: "Time",
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
  gaps_title: "Delivery gaps",
  gaps_note:
    "Each agent numbers its results from 1 and never reuses a number. A number below the highest stored one that is not stored was produced but has not reached the store: it is still in the agent's outbox, or the agent dropped it (its heartbeat counts those). As of the time generated, over each agent's whole history, not only this period. The same list: qos-probe gaps.",
  gaps_none: "No delivery gaps: every agent's results up to its highest stored number are stored.",
  gaps_no_agents: "No agent has sent a heartbeat yet.",
  gaps_some: "Agents with results missing from the store",
  gaps_agent: "Agent",
  gaps_stored: "Stored",
  gaps_highest: "Highest seq",
  gaps_missing: "Missing",
  gaps_ranges: "Missing seqs",
  gaps_dropped: "Dropped (heartbeat)",
  gaps_depth: "Outbox depth (heartbeat)",
  gaps_next_seq: "Next seq (heartbeat)",
  gaps_last_heartbeat: "Last heartbeat",
  gaps_more: "… and {n} more",
  config_title: "Configuration",
  config_note:
    "The regulator's signed configuration at each access point, as of the time generated: the version it runs, when it accepted it, and for every site not on the expected version why not (the agent's own reason for a rejection, no answer yet, no answer ever, or a stale heartbeat). The expected version is the newest one any agent acked or runs; an agent reports a version only after checking its signature. The same list: qos-probe config status.",
  config_expected: "Expected version",
  config_expected_none: "No signed configuration has been acked or is live at any site.",
  config_no_sites: "No site has sent a heartbeat or an acknowledgement yet.",
  config_all_ok: "Every site runs the expected version and its heartbeat is fresh.",
  config_some: "Sites not on the expected version, or not heard from",
  config_site: "Site",
  config_state: "State",
  config_running: "Running",
  config_accepted_at: "Accepted",
  config_heartbeat: "Last heartbeat",
  config_device_key: "Device key",
  config_reason: "Reason",
  config_bootstrap: "local file",
  config_stale: "stale",
  config_offline: "offline",
  config_never: "never",
  config_state_current: "current",
  config_state_ahead: "newer than expected",
  config_state_rejected: "rejected",
  config_state_pending: "no answer yet",
  "config_state_never-acked": "never acknowledged",
  "config_state_no-expected": "—",
  method_note:
    "Means are means over measurement intervals of the per-interval value, as the specification defines them. " +
    "The pooled loss ratio (all lost ÷ all sent) is shown only for comparison. Availability counts aligned " +
    "5-minute windows; windows with no probes are unmeasured and never counted as available. " +
    "Delay variation needs at least 2 received packets; round-trip and one-way bases are never averaged together. " +
    "Intervals flagged as aborted, below the light bound, host timing or clock step, and diagnostic runs, are kept out of verdicts and counted beside them.",
} as const;

export type LabelKey = keyof typeof EN;

const ZH: Record<LabelKey, string> = {
  title: "互联网业务通信质量合规报告",
  test_id: "测试",
  packet_size: "包长（字节）",
  timezone: "时区",
  times_in_zone: "按上述时区划分小时、日和自然月；所有时间均注明与UTC的偏移。",
  coverage: "覆盖率",
  coverage_note:
    "覆盖率＝已测量的5分钟时段÷应测量的5分钟时段（探测覆盖时段一半以上即为已测量）。低于下限时各项判定均为“数据不足”。",
  coverage_floor: "覆盖率下限",
  insufficient_note:
    "◔ 数据不足：已测量的5分钟时段少于覆盖率下限的要求，或没有可判定的测量周期。既非达标也非不达标：需补充测量后才能判定。",
  insufficient_coverage: "仅测量 {measured} / {expected} 个时段，低于 {floor} 下限",
  insufficient_no_interval: "没有可判定的测量周期（未测量，或均不计入判定）",
  windows_expected: "应测5分钟时段",
  windows_measured: "已测5分钟时段",
  fault_intervals: "测量故障周期数",
  flagged_integrity: "已标记周期（中止、时延低于光速下限）",
  flagged_timing: "已标记周期（主机计时、时钟跳变）",
  flagged_unsynced: "时钟未同步周期",
  dv_excluded_few: "收到包数少于2的周期（不计时延变化）",
  diagnostic_intervals: "诊断周期数",
  mean_dv_round_trip_ms: "往返时延变化平均值（毫秒）",
  mean_dv_one_way_forward_ms: "单向去程时延变化平均值（毫秒）",
  mean_dv_one_way_reverse_ms: "单向回程时延变化平均值（毫秒）",
  mean_one_way_ms: "单向时延平均值（毫秒）",
  faults_title: "测量故障与错误（不计入路径丢包，计入覆盖率不足）",
  faults_none: "本周期内没有测量故障或错误。",
  fault_status: "类别",
  fault_code: "代码",
  fault_count: "周期数",
  fault_last_at: "最近一次",
  fault_last_message: "最近一条信息",
  kept_out: "未计入判定",
  period: "统计周期",
  generated_at: "生成时间",
  operator: "运营商",
  from_site: "源站点",
  from_province: "源省份",
  to: "目的站点／目标",
  to_province: "目的省份",
  profile: "指标体系",
  method: "测量方法",
  bucket: "时段",
  bucket_start: "时段开始",
  bucket_end: "时段结束",
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
  chart_time: "时间",
  threshold: "限值",
  threshold_one_way_x2: "单向限值×2",
  value: "数值",
  overall_row: "整个周期",
  site_capital_note: "空心圆点：未配置坐标的站点，位置取其省会。",
  map: "站点与测试对",
  map_note: "等距圆柱投影，东经73–135°，北纬18–54°。连线颜色和线型表示整体判定结果。",
  site_unplaced: "无坐标的站点（未绘制）",
  no_results: "本周期内没有测量结果。",
  gaps_title: "投递缺口",
  gaps_note:
    "每个代理从1开始为结果编号，编号从不重复使用。低于已入库最大编号却未入库的编号，表示结果已产生但尚未入库：仍在代理的发件队列中，或已被代理丢弃（心跳中有计数）。统计截至生成时间，覆盖各代理的全部历史，不限于本周期。同一列表：qos-probe gaps。",
  gaps_none: "没有投递缺口：各代理直至已入库最大编号的结果均已入库。",
  gaps_no_agents: "尚无代理发送心跳。",
  gaps_some: "有结果未入库的代理数",
  gaps_agent: "代理",
  gaps_stored: "已入库",
  gaps_highest: "最大编号",
  gaps_missing: "缺失数",
  gaps_ranges: "缺失编号",
  gaps_dropped: "已丢弃（心跳）",
  gaps_depth: "发件队列长度（心跳）",
  gaps_next_seq: "下一编号（心跳）",
  gaps_last_heartbeat: "最近心跳",
  gaps_more: "……另有 {n} 段",
  config_title: "配置",
  config_note:
    "截至生成时间，监管方签名配置在各接入点的状态：正在运行的版本、接受时间；对未运行应有版本的站点说明原因（代理给出的拒绝理由、尚未应答、从未应答或心跳过期）。应有版本为任一代理已确认或正在运行的最新版本；代理只有在验证签名后才报告版本号。同一列表：qos-probe config status。",
  config_expected: "应有版本",
  config_expected_none: "尚无站点确认或运行签名配置。",
  config_no_sites: "尚无站点发送心跳或配置应答。",
  config_all_ok: "所有站点均运行应有版本且心跳正常。",
  config_some: "未运行应有版本或失联的站点数",
  config_site: "站点",
  config_state: "状态",
  config_running: "运行版本",
  config_accepted_at: "接受时间",
  config_heartbeat: "最近心跳",
  config_device_key: "设备密钥",
  config_reason: "原因",
  config_bootstrap: "本地文件",
  config_stale: "过期",
  config_offline: "离线",
  config_never: "从未",
  config_state_current: "已是最新",
  config_state_ahead: "高于应有版本",
  config_state_rejected: "已拒绝",
  config_state_pending: "尚未应答",
  "config_state_never-acked": "从未应答",
  "config_state_no-expected": "—",
  method_note:
    "平均值为各测量周期数值的平均值（依据规范定义）。合并丢包率（总丢失包数÷总发送包数）仅供对照。" +
    "可用性按对齐的5分钟时段统计；无探测的时段记为未测量，不计为可用。" +
    "时延变化至少需要收到2个包；往返与单向依据从不混合平均。" +
    "被标记为中止、低于光速下限、主机计时或时钟跳变的周期及诊断测试不计入判定，另行计数。",
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

/** "2026-11-01 00:00 +08:00": a time in the report's zone, its offset always printed. */
export { shortInZone as formatInZone } from "../timezone.js";
