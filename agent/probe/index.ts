import { icmp } from "./icmp.js";
import type { Method, Prober } from "./prober.js";
import { stamp } from "./stamp/sender.js";
import { tcp } from "./tcp.js";

/**
 * The http prober loads undici (≈ 5 MiB resident) on its first run: most agents run STAMP and ICMP
 * only, and on a 512 MiB Raspberry Pi that memory is worth keeping.
 */
const http: Prober = async (spec, ctx) => (await import("./http.js")).http(spec, ctx);

/** Every measurement method behind the one Prober interface, like blackbox_exporter's prober map. */
export const probers = { stamp, icmp, tcp, http } satisfies Record<Method, Prober>;
