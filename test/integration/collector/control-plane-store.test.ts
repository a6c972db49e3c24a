import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { heartbeatControl, parseConfigAck } from "../../../collector/control-plane/messages.js";
import type { ControlPlaneStore } from "../../../collector/control-plane/store.js";
import type { ResultStore } from "../../../collector/store/store.js";
import { backends } from "../../helpers/store-backends.js";

/**
 * The control-plane tables on each backend (real PostgreSQL in its own database, and PGlite): acks are
 * stored once however often they arrive, and an older heartbeat never replaces a newer one.
 */
const WHERE = { root: "qosprobe/v1", operator: "op", province: "110000", site: "bj-op-01" };

function ackBytes(extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schema: "qosprobe.config-ack/1",
      site: "bj-op-01",
      operator: "op",
      province: "110000",
      at: "2026-11-30T10:00:00.000Z",
      decision: "rejected",
      config_version: 4,
      config_hash: "abc123",
      key_id: "kidA",
      reason: "rollback: config_version 4 is not newer than the live 5",
      source: "mqtt:qosprobe/v1/op/110000/bj-op-01/config",
      live_version: 5,
      ...extra,
    }),
  );
}

function heartbeat(at: string, signed: number) {
  return heartbeatControl(
    {
      schema: "qosprobe.status/1",
      state: "online",
      site: "bj-op-01",
      operator: "op",
      province: "110000",
      at,
      heartbeat_interval_s: 61,
      config_version: String(signed),
      config_hash: `h${signed}`,
      config_signed: {
        config_version: signed,
        hash: `h${signed}`,
        key_id: "kidA",
        issued_at: "2026-11-30T09:00:00.000Z",
        accepted_at: "2026-11-30T09:30:00.000Z",
        source: "mqtt:qosprobe/v1/op/config",
      },
      regulator_keys: ["kidA", "kidB"],
      device_key: { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
      device_key_id: "dev-bj",
    },
    new Date(),
  );
}

for (const backend of backends) {
  describe(`control-plane store on ${backend.name}`, () => {
    let store: ResultStore;
    let cp: ControlPlaneStore;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      await store.migrate();
      cp = store.controlPlane as ControlPlaneStore;
    }, 30_000);

    afterAll(async () => {
      await dispose?.();
    });

    it("stores an ack once however often the same bytes arrive, and a different decision as its own row", async () => {
      const first = parseConfigAck(WHERE, ackBytes());
      if (!first.ok) throw new Error(first.reason);
      expect(await cp.insertConfigAcks([first.ack])).toBe(1);
      expect(await cp.insertConfigAcks([first.ack])).toBe(0); // a redelivery
      const accepted = parseConfigAck(
        WHERE,
        ackBytes({ at: "2026-11-30T09:30:00.000Z", decision: "accepted", config_version: 5, reason: null }),
      );
      if (!accepted.ok) throw new Error(accepted.reason);
      expect(await cp.insertConfigAcks([accepted.ack, first.ack])).toBe(1);
      const rows = await cp.listConfigAcks();
      expect(
        rows.map((r) => [r.at.toISOString(), r.decision, r.config_version, r.live_version, r.reason]),
      ).toEqual([
        ["2026-11-30T09:30:00.000Z", "accepted", 5, 5, null],
        [
          "2026-11-30T10:00:00.000Z",
          "rejected",
          4,
          5,
          "rollback: config_version 4 is not newer than the live 5",
        ],
      ]);
      expect(await cp.listConfigAcks({ site: "elsewhere" })).toEqual([]);
    });

    it("refuses an ack whose body names another site than its topic", () => {
      const other = parseConfigAck(WHERE, ackBytes({ site: "sh-op-01" }));
      expect(other).toEqual({
        ok: false,
        reason: "config ack: topic site bj-op-01 does not match site sh-op-01",
      });
    });

    it("keeps the newest heartbeat's control facts: an older one delivered again changes nothing", async () => {
      const newer = heartbeat("2026-11-30T10:05:00.000Z", 5);
      const older = heartbeat("2026-11-30T10:04:00.000Z", 4);
      if (!newer || !older) throw new Error("heartbeat not read");
      await cp.upsertSiteControl(newer);
      await cp.upsertSiteControl(older);
      await cp.upsertSiteControl(newer);
      const rows = await cp.listSiteControl();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        operator: "op",
        province: "110000",
        site: "bj-op-01",
        last_heartbeat: new Date("2026-11-30T10:05:00.000Z"),
        heartbeat_interval_s: 61,
        config_label: "5",
        signed_version: 5,
        signed_hash: "h5",
        signed_key_id: "kidA",
        signed_accepted_at: new Date("2026-11-30T09:30:00.000Z"),
        regulator_keys: ["kidA", "kidB"],
        device_key: { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
        device_key_id: "dev-bj",
      });
    });
  });
}
