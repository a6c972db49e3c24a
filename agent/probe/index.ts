import { http } from "./http.js";
import { icmp } from "./icmp.js";
import type { Method, Prober } from "./prober.js";
import { stamp } from "./stamp/sender.js";
import { tcp } from "./tcp.js";

/** Every measurement method behind the one Prober interface, like blackbox_exporter's prober map. */
export const probers = { stamp, icmp, tcp, http } satisfies Record<Method, Prober>;
