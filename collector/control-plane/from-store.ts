import { QosProbeError } from "../../agent/errors.js";
import type { ResultStore } from "../store/store.js";
import { type ConfigStatusOptions, type ConfigStatusReport, configStatus } from "./config-status.js";

/**
 * Read the regulator's view from a store: site_status, site_control and config_acks, plus the sites the
 * collector configuration registers. Throws QosProbeError STORE when the store has no control-plane tables.
 */
export async function configStatusFromStore(
  store: ResultStore,
  opts: Omit<ConfigStatusOptions, "now_ms"> & { now_ms: number; site?: string },
  registered: readonly { operator: string; province: string; site: string }[] = [],
): Promise<ConfigStatusReport> {
  const cp = store.controlPlane;
  if (!cp)
    throw new QosProbeError("STORE", "this store keeps no control-plane tables (config_acks, site_control)");
  const [statuses, control, acks] = await Promise.all([
    store.listSites(),
    cp.listSiteControl(),
    cp.listConfigAcks(opts.site === undefined ? {} : { site: opts.site }),
  ]);
  const only = <T extends { site: string }>(rows: readonly T[]) =>
    opts.site === undefined ? rows : rows.filter((r) => r.site === opts.site);
  return configStatus(
    { statuses: only(statuses), control: only(control), acks, registered: only(registered) },
    {
      now_ms: opts.now_ms,
      ...(opts.expect !== undefined ? { expect: opts.expect } : {}),
      ...(opts.stale_after_s !== undefined ? { stale_after_s: opts.stale_after_s } : {}),
    },
  );
}

/** The collector configuration's sites (sites: or sites_from:) that name their operator. */
export function registeredSites(
  sites: readonly { site: string; province: string; operator?: string }[],
): { operator: string; province: string; site: string }[] {
  return sites.flatMap((s) =>
    s.operator === undefined ? [] : [{ operator: s.operator, province: s.province, site: s.site }],
  );
}
