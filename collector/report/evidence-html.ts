import type { AgentEvidence } from "../evidence.js";
import { esc } from "./escape.js";
import type { Lang } from "./i18n.js";

/**
 * The report's evidence section: per agent, how many of its results in the period are signed, how many
 * of those had their signature checked against a registered key and how many were stored unchecked, the
 * chain's head digest (what `qos-probe verify` recomputes from a results export), and every chain
 * break with the seqs it concerns. Kept apart from i18n.ts's label table: its words are only used here.
 */

const WORDS = {
  en: {
    title: "Evidence",
    note: "Each result is signed by its access point's device key and names the digest of the one before. A break means results are missing or were altered between the agent and the collector. Audit: qos-probe report --format results, then qos-probe verify.",
    agent: "agent",
    results: "results",
    signed: "signed",
    checked: "signature checked",
    unchecked: "stored unchecked: no key registered / unsigned",
    unknown: "not known",
    seqs: "seq",
    head: "chain head (SHA-256)",
    breaks: "chain breaks",
    none: "none",
    empty: "No results in this period.",
    store:
      "Results, signed, seqs and head cover each agent's whole stored chain (kept at ingest); the breaks listed are those whose result falls in this period. Signed is not checked: a signature is checked at ingest only against a device key registered for the site (sites[].device_key); results from a site without one are stored unchecked, as are results stored before the collector counted checks.",
  },
  zh: {
    title: "证据",
    note: "每条结果由接入点的设备密钥签名，并记录前一条结果的摘要。断链表示代理与采集器之间有结果缺失或被篡改。核验：qos-probe report --format results，再运行 qos-probe verify。",
    agent: "代理",
    results: "结果数",
    signed: "已签名",
    checked: "签名已核验",
    unchecked: "未核验入库：未登记密钥 / 未签名",
    unknown: "未知",
    seqs: "序号",
    head: "链头 (SHA-256)",
    breaks: "断链",
    none: "无",
    empty: "本期无结果。",
    store:
      "结果数、已签名、序号和链头为该代理全部已存结果（入库时维护）；所列断链为本期内的。已签名不等于已核验：入库时仅对已登记设备密钥（sites[].device_key）的站点核验签名；未登记站点的结果以及采集器开始计数前入库的结果均为未核验入库。",
  },
} as const;

export function evidenceSection(evidence: readonly AgentEvidence[] | undefined, lang: Lang): string {
  // Not computed: no section at all, rather than one that would read as "no results".
  if (!evidence) return "";
  const w = WORDS[lang];
  const scope = evidence.some((e) => e.scope === "store") ? `<p class="note">${esc(w.store)}</p>` : "";
  const head = `<section data-testid="evidence"><h2>${esc(w.title)}</h2><p class="note">${esc(w.note)}</p>${scope}`;
  if (evidence.length === 0) return `${head}<p>${esc(w.empty)}</p></section>`;
  const rows = evidence
    .map((e) => {
      const breaks = e.breaks.length
        ? `<ul>${e.breaks.map((b) => `<li data-testid="chain-break">${esc(b.detail)}</li>`).join("")}</ul>`
        : esc(w.none);
      const checked = e.checked === undefined ? esc(w.unknown) : String(e.checked);
      const unchecked = e.unchecked
        ? `<span data-testid="unchecked">${e.unchecked.no_key} / ${e.unchecked.unsigned}</span>`
        : esc(w.unknown);
      return (
        `<tr><td>${esc(`${e.operator}/${e.site}`)}</td><td>${e.results}</td><td>${e.signed}</td>` +
        `<td data-testid="checked">${checked}</td><td>${unchecked}</td>` +
        `<td>${e.first_seq ?? "–"}–${e.last_seq ?? "–"}</td><td><code>${esc(e.head ?? "–")}</code></td><td>${breaks}</td></tr>`
      );
    })
    .join("");
  return (
    `${head}<table><thead><tr><th>${esc(w.agent)}</th><th>${esc(w.results)}</th><th>${esc(w.signed)}</th>` +
    `<th>${esc(w.checked)}</th><th>${esc(w.unchecked)}</th><th>${esc(w.seqs)}</th><th>${esc(w.head)}</th><th>${esc(w.breaks)}</th></tr></thead><tbody>${rows}</tbody></table></section>`
  );
}
