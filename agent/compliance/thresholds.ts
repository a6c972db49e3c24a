import type { ProfileId } from "../publish/message.js";

/**
 * The national telecom service specification (电信服务规范) as data: which indicator, which clause,
 * what limit, and how it reads in Chinese and English for reports. Code never hard-codes a limit.
 */

export interface Bilingual {
  zh: string;
  en: string;
}

/** One requirement of the specification. `bound` says whether the limit is a maximum or a minimum. */
export interface Indicator {
  /** Clause number in the specification, e.g. "3.2.2.1". */
  clause: string;
  limit: number;
  bound: "max" | "min";
  unit: "ms" | "ratio";
  label: Bilingual;
  /** The requirement as the specification words it. */
  requirement: Bilingual;
}

export type IndicatorId = "delay" | "delay_variation" | "loss" | "availability";

export interface ProfileThresholds {
  id: ProfileId;
  title: Bilingual;
  /** What the delay limit applies to: the round trip (3.2.2.1) or one way (4.2.2). */
  delay_kind: "round-trip" | "one-way";
  /** Flat limits for quick use (format, verdicts); the same numbers as in `indicators`. */
  delay_ms: number;
  delay_variation_ms: number;
  loss_ratio: number;
  /** Minimum availability ratio; null when the profile has no availability requirement. */
  availability_ratio: number | null;
  indicators: Partial<Record<IndicatorId, Indicator>> &
    Record<"delay" | "delay_variation" | "loss", Indicator>;
}

const INTERNET_INDICATORS = {
  delay: {
    clause: "3.2.2.1",
    limit: 200,
    bound: "max",
    unit: "ms",
    label: { zh: "IP包往返时延", en: "IP packet round-trip delay" },
    requirement: { zh: "往返时延平均值≤200毫秒", en: "mean round-trip delay ≤ 200 ms" },
  },
  delay_variation: {
    clause: "3.2.2.2",
    limit: 80,
    bound: "max",
    unit: "ms",
    label: { zh: "IP包时延变化", en: "IP packet delay variation" },
    requirement: { zh: "时延变化平均值≤80毫秒", en: "mean delay variation ≤ 80 ms" },
  },
  loss: {
    clause: "3.2.2.3",
    limit: 0.02,
    bound: "max",
    unit: "ratio",
    label: { zh: "IP包丢失率", en: "IP packet loss ratio" },
    requirement: { zh: "包丢失率平均值≤2%", en: "mean packet loss ratio ≤ 2 %" },
  },
  availability: {
    clause: "3.2.2.4",
    limit: 0.999,
    bound: "min",
    unit: "ratio",
    label: { zh: "IP业务可用性", en: "IP service availability" },
    requirement: {
      zh: "IP业务可用性≥99.9%（连续5分钟内丢包率≤75%则该时间段可用）",
      en: "availability ≥ 99.9 % (a continuous 5-minute period with loss ≤ 75 % is available)",
    },
  },
} as const satisfies Record<IndicatorId, Indicator>;

const VOIP_INDICATORS = {
  delay: {
    clause: "4.2.2",
    limit: 400,
    bound: "max",
    unit: "ms",
    label: { zh: "语音传输时延", en: "one-way voice transfer delay" },
    requirement: { zh: "语音传输时延平均值≤400毫秒", en: "mean one-way voice transfer delay ≤ 400 ms" },
  },
  delay_variation: {
    clause: "4.2.3",
    limit: 80,
    bound: "max",
    unit: "ms",
    label: { zh: "时延变化", en: "delay variation" },
    requirement: { zh: "时延变化平均值≤80毫秒", en: "mean delay variation ≤ 80 ms" },
  },
  loss: {
    clause: "4.2.4",
    limit: 0.05,
    bound: "max",
    unit: "ratio",
    label: { zh: "丢包率", en: "packet loss ratio" },
    requirement: { zh: "丢包率平均值≤5%", en: "mean packet loss ratio ≤ 5 %" },
  },
} as const satisfies Record<"delay" | "delay_variation" | "loss", Indicator>;

function profile(
  id: ProfileId,
  title: Bilingual,
  delay_kind: ProfileThresholds["delay_kind"],
  indicators: ProfileThresholds["indicators"],
): ProfileThresholds {
  return {
    id,
    title,
    delay_kind,
    delay_ms: indicators.delay.limit,
    delay_variation_ms: indicators.delay_variation.limit,
    loss_ratio: indicators.loss.limit,
    availability_ratio: indicators.availability?.limit ?? null,
    indicators,
  };
}

export const PROFILE_THRESHOLDS: Readonly<Record<ProfileId, ProfileThresholds>> = {
  "internet-3.2.2": profile(
    "internet-3.2.2",
    { zh: "互联网数据传送通信质量指标（3.2.2）", en: "Internet data transfer quality (3.2.2)" },
    "round-trip",
    INTERNET_INDICATORS,
  ),
  "voip-4.2": profile(
    "voip-4.2",
    { zh: "国内IP电话业务（4.2）", en: "Domestic IP telephony (4.2)" },
    "one-way",
    VOIP_INDICATORS,
  ),
};

/**
 * Spec 3.3.2.2.2 budgets 0.005 ms per km of circuit (≈ 5 µs/km, light in fibre). A great-circle path
 * is the shortest possible fibre, so no real round trip can beat this.
 */
export const FIBRE_MS_PER_KM = 0.005;

/** The least RTT physics allows over `distance_km` of great-circle distance: there and back. */
export function lightSpeedMinRttMs(distance_km: number): number {
  return 2 * distance_km * FIBRE_MS_PER_KM;
}
