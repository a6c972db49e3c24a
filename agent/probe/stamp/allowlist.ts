import { BlockList, isIP } from "node:net";
import { QosProbeError } from "../../errors.js";

/**
 * Build a net.BlockList (used here as an allow list) from addresses and CIDRs such as "192.0.2.7",
 * "198.51.100.0/24" or "2001:db8::/32". Throws CONFIG_INVALID naming the bad entry.
 */
export function buildAllowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefixText, extra] = entry.trim().split("/");
    const family = isIP(address);
    const prefix = prefixText === undefined ? undefined : Number(prefixText);
    const maxPrefix = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix))
    ) {
      throw new QosProbeError("CONFIG_INVALID", `allow list entry "${entry}" is not an address or CIDR`, {
        hint: "write it as 192.0.2.7, 198.51.100.0/24 or 2001:db8::/32",
      });
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

/** Is `address` (as reported by dgram, possibly IPv4-mapped IPv6) on the list? */
export function isAllowed(list: BlockList, address: string): boolean {
  // A dual-stack "::" socket reports IPv4 peers as ::ffff:a.b.c.d; match them against IPv4 rules too.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return list.check(mapped, "ipv4") || list.check(address, "ipv6");
  return list.check(address, isIP(address) === 6 ? "ipv6" : "ipv4");
}
