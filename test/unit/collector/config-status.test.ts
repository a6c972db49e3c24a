import { describe, expect, it } from "vitest";
import { configStatus, newestSeenVersion } from "../../../collector/control-plane/config-status.js";
import { formatConfigStatus } from "../../../collector/control-plane/status-role.js";
import type { ConfigAckRow, SiteControlRow } from "../../../collector/control-plane/store.js";
import type { SiteStatusRow } from "../../../collector/store/store.js";

/**
 * The regulator's view as a pure function of stored rows (collector/control-plane/config-status.ts).
 * Every expected figure is worked out by hand from the rows below; NOW is fixed.
 */
const NOW = Date.parse("2026-11-30T12:00:00Z");
const at = (s: string) => new Date(`2026-11-30T${s}Z`);

function statusRow(site: string, last: string | null, state: "online" | "offline" = "online"): SiteStatusRow {
  return {
    operator: "op",
    province: "110000",
    site,
    state,
    last_heartbeat: last === null ? null : at(last),
    updated_at: at("11:59:00"),
    outbox_depth: 0,
    dropped: 0,
    version: "0.1.0",
    config_version: null,
    payload: {},
  };
}

function control(site: string, last: string, signed: number | null, interval = 60): SiteControlRow {
  return {
    operator: "op",
    province: "110000",
    site,
    last_heartbeat: at(last),
    heartbeat_interval_s: interval,
    config_label: signed === null ? null : String(signed),
    config_hash: signed === null ? "boot" : `hash-${signed}`,
    signed_version: signed,
    signed_hash: signed === null ? null : `hash-${signed}`,
    signed_key_id: signed === null ? null : "kidA",
    signed_accepted_at: signed === null ? null : at("10:00:00"),
    signed_issued_at: null,
    signed_source: null,
    regulator_keys: ["kidA"],
    device_key: { kty: "OKP", crv: "Ed25519", x: "xx" },
    device_key_id: `dev-${site}`,
    updated_at: at(last),
  };
}

let nextId = 1;
function ack(
  site: string,
  when: string,
  decision: "accepted" | "rejected",
  version: number | null,
  live: number | null,
  reason: string | null = null,
): ConfigAckRow {
  return {
    id: nextId++,
    received_at: at(when),
    operator: "op",
    province: "110000",
    site,
    at: at(when),
    decision,
    config_version: version,
    config_hash: version === null ? null : `hash-${version}`,
    key_id: "kidA",
    reason,
    source: "mqtt:qosprobe/v1/op/config",
    live_version: live,
  };
}

describe("config status", () => {
  // a: took v7 then v8 (current). b: took v7, refused v8 as invalid (rejected, still v7).
  // c: heartbeat 4 min old with a 60 s period (stale: 240 > 180), took v8.
  // d: registered in the collector config, nothing ever heard (never-acked, no heartbeat).
  const statuses = [statusRow("a", "11:59:30"), statusRow("b", "11:59:40"), statusRow("c", "11:56:00")];
  const controls = [control("a", "11:59:30", 8), control("b", "11:59:40", 7), control("c", "11:56:00", 8)];
  const acks = [
    ack("a", "10:00:00", "accepted", 7, 7),
    ack("a", "11:00:00", "accepted", 8, 8),
    ack("b", "10:00:00", "accepted", 7, 7),
    ack("b", "11:00:00", "rejected", 8, 7, "invalid: config_version 8: tests[0].to: unknown site"),
    ack("c", "11:00:00", "accepted", 8, 8),
  ];
  const registered = [{ operator: "op", province: "110000", site: "d" }];

  it("takes the newest signed version seen as expected and says who is not on it, and why", () => {
    const r = configStatus({ statuses, control: controls, acks, registered }, { now_ms: NOW });
    expect(r.expected_version).toBe(8);
    expect(r.expected_from).toBe("newest-seen");
    const by = Object.fromEntries(r.sites.map((s) => [s.site, s]));
    expect(by.a).toMatchObject({
      state: "current",
      ok: true,
      running_version: 8,
      running_hash: "hash-8",
      accepted_at: "2026-11-30T10:00:00.000Z", // from the heartbeat's config_signed.accepted_at
      heartbeat: { age_s: 30, stale_after_s: 180, stale: false, state: "online" },
      device_key_id: "dev-a",
      acks: { accepted: 2, rejected: 0 },
    });
    expect(by.b).toMatchObject({ state: "rejected", ok: false, running_version: 7 });
    expect(by.b?.rejection).toMatchObject({
      config_version: 8,
      reason: "invalid: config_version 8: tests[0].to: unknown site",
    });
    expect(by.b?.detail).toBe("rejected v8: invalid: config_version 8: tests[0].to: unknown site; runs v7");
    // 12:00:00 − 11:56:00 = 240 s > 3 × 60 s.
    expect(by.c).toMatchObject({
      state: "current",
      ok: false,
      heartbeat: { age_s: 240, stale_after_s: 180, stale: true },
    });
    expect(by.c?.detail).toBe("heartbeat stale: last 240s ago (> 180s); on v8");
    expect(by.d).toMatchObject({
      state: "never-acked",
      ok: false,
      running_version: null,
      heartbeat: { last: null, stale: true, state: null },
    });
    expect(r.not_ok).toBe(3);
  });

  it("--expect and --stale-after override the defaults", () => {
    const r = configStatus(
      { statuses, control: controls, acks },
      { now_ms: NOW, expect: 7, stale_after_s: 300 },
    );
    const by = Object.fromEntries(r.sites.map((s) => [s.site, s]));
    expect(r.expected_from).toBe("expect");
    expect(by.a?.state).toBe("ahead");
    expect(by.b).toMatchObject({ state: "current", ok: true });
    // 240 s ≤ 300 s: fresh now, but v8 is not the expected v7.
    expect(by.c).toMatchObject({ state: "ahead", ok: false, heartbeat: { stale: false } });
    expect(r.not_ok).toBe(2);
  });

  it("an ack newer than the last heartbeat decides what runs; an unverified rejection has no version", () => {
    // Heartbeat at 11:00 says v7; at 11:30 the agent accepted v9 (no heartbeat since).
    const r = configStatus(
      {
        statuses: [statusRow("e", "11:59:00")],
        control: [control("e", "11:00:00", 7)],
        acks: [
          ack("e", "11:30:00", "accepted", 9, 9),
          ack("e", "11:45:00", "rejected", null, 9, "bad-signature: signature does not verify"),
        ],
      },
      { now_ms: NOW, expect: 10 },
    );
    const [e] = r.sites;
    expect(e).toMatchObject({
      running_version: 9,
      running_hash: "hash-9",
      accepted_at: "2026-11-30T11:30:00.000Z",
      state: "rejected",
    });
    expect(e?.detail).toBe("rejected an envelope: bad-signature: signature does not verify; runs v9");
  });

  it("a Last Will makes a site offline; answers on older envelopes only are pending", () => {
    const r = configStatus(
      {
        statuses: [statusRow("f", "11:59:50", "offline"), statusRow("g", "11:59:50")],
        control: [control("f", "11:59:50", 8), control("g", "11:59:50", 7)],
        acks: [ack("g", "10:00:00", "accepted", 7, 7)],
      },
      { now_ms: NOW, expect: 8 },
    );
    const [f, g] = r.sites;
    expect(f).toMatchObject({ state: "current", ok: false, heartbeat: { state: "offline", stale: true } });
    expect(f?.detail).toBe("offline since its last heartbeat 10s ago; on v8");
    expect(g).toMatchObject({ state: "pending", ok: false, detail: "no answer on v8 yet; runs v7" });
  });

  it("newest seen ignores null versions; nothing known gives no expected version", () => {
    expect(newestSeenVersion([ack("x", "10:00:00", "rejected", null, null, "bad-signature: x")], [])).toBe(
      null,
    );
    const r = configStatus(
      { statuses: [statusRow("h", "11:59:00")], control: [control("h", "11:59:00", null)], acks: [] },
      { now_ms: NOW },
    );
    expect(r).toMatchObject({ expected_version: null, expected_from: "none", not_ok: 0 });
    expect(r.sites[0]).toMatchObject({ state: "no-expected", ok: true, running_version: null });
  });

  it("prints a table with the expected version, one row per site and one line per site not ok", () => {
    const r = configStatus({ statuses, control: controls, acks, registered }, { now_ms: NOW });
    const lines = formatConfigStatus(r).split("\n");
    expect(lines[0]).toBe("expected: v8 (newest version acked or live at any site)");
    expect(lines[1]).toMatch(/^site\s+operator\s+state\s+running\s+accepted at\s+heartbeat\s+key\s+reason$/);
    expect(lines[2]).toMatch(/^a\s+op\s+current\s+v8\s+2026-11-30T10:00:00.000Z\s+30s ago\s+dev-a$/);
    expect(lines[3]).toMatch(/^b\s+op\s+rejected ✗\s+v7\s+.*\s+v8: invalid: config_version 8: /);
    expect(lines[4]).toMatch(/^c\s+op\s+current ✗\s+v8\s+.*STALE 4m 0s ago/);
    expect(lines[5]).toMatch(/^d\s+op\s+never-acked ✗\s+bootstrap\s+–\s+never\s+–\s+no ack ever stored$/);
    expect(lines[6]).toBe("2 of 4 sites on v8; 3 not ok");
    expect(lines.slice(7)).toEqual([
      "  op/b: rejected v8: invalid: config_version 8: tests[0].to: unknown site; runs v7",
      "  op/c: heartbeat stale: last 240s ago (> 180s); on v8",
      "  op/d: no heartbeat ever; never acked a signed configuration; runs its bootstrap file",
    ]);
  });
});
