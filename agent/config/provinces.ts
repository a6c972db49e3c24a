/**
 * The 31 provincial-level divisions of mainland China (GB/T 2260 codes), with the capital whose
 * coordinates stand in for a site that gives none. Coordinates are WGS-84 city-centre points to four
 * decimals (≈ 10 m): far finer than the 1000 km pair rule needs. Hong Kong, Macao and Taiwan are not
 * included: the specification covers mainland operators' networks.
 */
export interface Province {
  /** GB/T 2260 six-digit code, as a string ("110000"). */
  code: string;
  /** Full Chinese name, e.g. 广东省. */
  zh: string;
  /** Short Chinese name without the administrative suffix, e.g. 广东. */
  zh_short: string;
  /** English (pinyin) name, e.g. Guangdong. */
  en: string;
  /** Other accepted English spellings, e.g. Tibet for Xizang. */
  en_aliases: readonly string[];
  capital: { zh: string; en: string; latitude: number; longitude: number };
}

function p(
  code: string,
  zh: string,
  zh_short: string,
  en: string,
  capital: [zh: string, en: string, latitude: number, longitude: number],
  en_aliases: string[] = [],
): Province {
  const [czh, cen, latitude, longitude] = capital;
  return { code, zh, zh_short, en, en_aliases, capital: { zh: czh, en: cen, latitude, longitude } };
}

export const PROVINCES: readonly Province[] = [
  p("110000", "北京市", "北京", "Beijing", ["北京", "Beijing", 39.9042, 116.4074]),
  p("120000", "天津市", "天津", "Tianjin", ["天津", "Tianjin", 39.0842, 117.201]),
  p("130000", "河北省", "河北", "Hebei", ["石家庄", "Shijiazhuang", 38.0428, 114.5149]),
  p("140000", "山西省", "山西", "Shanxi", ["太原", "Taiyuan", 37.8706, 112.5489]),
  p(
    "150000",
    "内蒙古自治区",
    "内蒙古",
    "Inner Mongolia",
    ["呼和浩特", "Hohhot", 40.8424, 111.749],
    ["Nei Mongol", "Neimenggu"],
  ),
  p("210000", "辽宁省", "辽宁", "Liaoning", ["沈阳", "Shenyang", 41.8057, 123.4315]),
  p("220000", "吉林省", "吉林", "Jilin", ["长春", "Changchun", 43.8171, 125.3235]),
  p("230000", "黑龙江省", "黑龙江", "Heilongjiang", ["哈尔滨", "Harbin", 45.8038, 126.535]),
  p("310000", "上海市", "上海", "Shanghai", ["上海", "Shanghai", 31.2304, 121.4737]),
  p("320000", "江苏省", "江苏", "Jiangsu", ["南京", "Nanjing", 32.0603, 118.7969]),
  p("330000", "浙江省", "浙江", "Zhejiang", ["杭州", "Hangzhou", 30.2741, 120.1551]),
  p("340000", "安徽省", "安徽", "Anhui", ["合肥", "Hefei", 31.8206, 117.2272]),
  p("350000", "福建省", "福建", "Fujian", ["福州", "Fuzhou", 26.0745, 119.2965]),
  p("360000", "江西省", "江西", "Jiangxi", ["南昌", "Nanchang", 28.682, 115.8579]),
  p("370000", "山东省", "山东", "Shandong", ["济南", "Jinan", 36.6512, 117.1201]),
  p("410000", "河南省", "河南", "Henan", ["郑州", "Zhengzhou", 34.7466, 113.6254]),
  p("420000", "湖北省", "湖北", "Hubei", ["武汉", "Wuhan", 30.5928, 114.3055]),
  p("430000", "湖南省", "湖南", "Hunan", ["长沙", "Changsha", 28.2282, 112.9388]),
  p("440000", "广东省", "广东", "Guangdong", ["广州", "Guangzhou", 23.1291, 113.2644]),
  p("450000", "广西壮族自治区", "广西", "Guangxi", ["南宁", "Nanning", 22.817, 108.3665]),
  p("460000", "海南省", "海南", "Hainan", ["海口", "Haikou", 20.044, 110.1999]),
  p("500000", "重庆市", "重庆", "Chongqing", ["重庆", "Chongqing", 29.563, 106.5516]),
  p("510000", "四川省", "四川", "Sichuan", ["成都", "Chengdu", 30.5728, 104.0668]),
  p("520000", "贵州省", "贵州", "Guizhou", ["贵阳", "Guiyang", 26.647, 106.6302]),
  p("530000", "云南省", "云南", "Yunnan", ["昆明", "Kunming", 24.8801, 102.8329]),
  p("540000", "西藏自治区", "西藏", "Xizang", ["拉萨", "Lhasa", 29.652, 91.1721], ["Tibet"]),
  p("610000", "陕西省", "陕西", "Shaanxi", ["西安", "Xi'an", 34.3416, 108.9398]),
  p("620000", "甘肃省", "甘肃", "Gansu", ["兰州", "Lanzhou", 36.0611, 103.8343]),
  p("630000", "青海省", "青海", "Qinghai", ["西宁", "Xining", 36.6171, 101.7782]),
  p("640000", "宁夏回族自治区", "宁夏", "Ningxia", ["银川", "Yinchuan", 38.4872, 106.2309]),
  p("650000", "新疆维吾尔自治区", "新疆", "Xinjiang", ["乌鲁木齐", "Urumqi", 43.8256, 87.6168]),
];

/** English names compare case-insensitively and ignore spaces and hyphens ("inner-mongolia"). */
function normaliseName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, "");
}

const byKey = new Map<string, Province>();
for (const prov of PROVINCES) {
  for (const key of [prov.code, prov.zh, prov.zh_short, prov.en, ...prov.en_aliases]) {
    byKey.set(normaliseName(key), prov);
  }
}

/**
 * Look a province up by GB/T 2260 code, Chinese name (full or short) or English name. Matching is
 * exact (after case and spacing): no fuzzy match, because Shanxi (山西) and Shaanxi (陕西) differ by
 * one letter and a guess would silently move a site.
 */
export function findProvince(codeOrName: string): Province | undefined {
  return byKey.get(normaliseName(codeOrName));
}

/** Every accepted spelling, for "did you mean" hints. */
export function provinceNames(): string[] {
  return PROVINCES.flatMap((prov) => [prov.code, prov.zh, prov.zh_short, prov.en, ...prov.en_aliases]);
}
