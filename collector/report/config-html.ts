import type { ConfigStatusReport, SiteConfigStatus } from "../control-plane/config-status.js";
import { esc } from "./escape.js";
import { formatInZone, type LabelKey, type Lang, label } from "./i18n.js";

/**
 * The report's "Configuration" section (issue 11, the regulator's view): per site the signed
 * configuration it runs, when it accepted it, its last heartbeat, and for every site not on the expected
 * version why not. The same rows as `qos-probe config status` (collector/control-plane/config-status.ts).
 * Same table style as html-table.ts; a rejection's reason is the agent's own text, shown as sent.
 */
export function configurationSection(c: ConfigStatusReport | undefined, lang: Lang, zone: string): string {
  // Not computed (a report built from result messages has no acks or heartbeats): no section at all.
  if (!c) return "";
  const expected =
    c.expected_version === null
      ? `<p data-testid="config-expected" data-version="">${esc(label(lang, "config_expected_none"))}</p>`
      : `<p data-testid="config-expected" data-version="${c.expected_version}">` +
        `${esc(label(lang, "config_expected"))}: v${c.expected_version}</p>`;
  const head =
    `<section data-testid="configuration"><h2>${esc(label(lang, "config_title"))}</h2>` +
    `<p class="note">${esc(label(lang, "config_note"))}</p>${expected}`;
  if (c.sites.length === 0) {
    return `${head}<p data-testid="config-none">${esc(label(lang, "config_no_sites"))}</p></section>`;
  }
  const summary = c.not_ok
    ? `<p data-testid="config-some" data-sites="${c.not_ok}">${esc(label(lang, "config_some"))}: ` +
      `${c.not_ok} / ${c.sites.length}</p>`
    : c.expected_version === null
      ? "" // no version to be on: "every site runs the expected version" would contradict the line above
      : `<p data-testid="config-all-ok">${esc(label(lang, "config_all_ok"))}</p>`;
  const cols = [
    "config_site",
    "config_state",
    "config_running",
    "config_accepted_at",
    "config_heartbeat",
    "config_device_key",
    "config_reason",
  ] as const;
  const header = cols.map((k) => `<th scope="col">${esc(label(lang, k))}</th>`).join("");
  const body = c.sites.map((s) => siteRow(s, lang, zone)).join("");
  return (
    `${head}${summary}<div class="scroll"><table class="compliance" data-testid="config-table">` +
    `<thead><tr>${header}</tr></thead><tbody>${body}</tbody></table></div></section>`
  );
}

function time(iso: string | null, lang: Lang, zone: string): string {
  return iso === null ? label(lang, "config_never") : formatInZone(Date.parse(iso), zone);
}

function siteRow(s: SiteConfigStatus, lang: Lang, zone: string): string {
  const hb = s.heartbeat;
  const hbText =
    hb.last === null
      ? label(lang, "config_never")
      : `${time(hb.last, lang, zone)}${hb.state === "offline" ? ` (${label(lang, "config_offline")})` : hb.stale ? ` (${label(lang, "config_stale")})` : ""}`;
  const reason =
    s.state === "rejected" && s.rejection
      ? `${s.rejection.config_version === null ? "" : `v${s.rejection.config_version}: `}${s.rejection.reason ?? ""}`
      : "";
  const stateKey = `config_state_${s.state}` as LabelKey;
  return (
    `<tr data-testid="config-row" data-operator="${esc(s.operator)}" data-site="${esc(s.site)}" ` +
    `data-state="${s.state}" data-ok="${s.ok}" data-running="${s.running_version ?? ""}">` +
    `<th scope="row">${esc(`${s.operator}/${s.site}`)}</th>` +
    `<td class="${s.ok ? "pass" : "fail"}">${esc(label(lang, stateKey))}</td>` +
    `<td class="num">${s.running_version === null ? esc(label(lang, "config_bootstrap")) : `v${s.running_version}`}</td>` +
    `<td>${esc(s.accepted_at === null ? "—" : time(s.accepted_at, lang, zone))}</td>` +
    `<td${hb.stale ? ' class="fail"' : ""} data-testid="config-heartbeat" data-stale="${hb.stale}">${esc(hbText)}</td>` +
    `<td><code>${esc(s.device_key_id === null ? "—" : s.device_key_id.slice(0, 12))}</code></td>` +
    `<td data-testid="config-reason">${esc(reason)}</td></tr>`
  );
}
