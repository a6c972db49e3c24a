import dgram from "node:dgram";
import { classifyNetError } from "./net-errors.js";

/**
 * Is there a route to `address` right now? connect() on a UDP socket makes the kernel look the route
 * up and sends nothing. ping (iputils 20221126) counts a send that failed with ENETUNREACH as
 * transmitted and prints nothing about it (seen with strace in a namespace whose route was removed),
 * so this is how the ICMP prober tells "sent into no route" (an outage, issue 9) from path loss.
 * Resolves to the reason ("network unreachable", …) or undefined when a route exists; never rejects.
 */
export function routeProblem(address: string, family: 4 | 6): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    let done = false;
    const finish = (reason: string | undefined) => {
      if (done) return;
      done = true;
      socket.close();
      resolve(reason);
    };
    socket.on("error", (err) => {
      const kind = classifyNetError(err);
      finish(kind.kind === "outage" ? kind.reason : undefined);
    });
    try {
      // Port 9 (discard): only the route lookup matters, no datagram is sent by connect().
      socket.connect(9, address, (err?: Error) => {
        if (!err) {
          finish(undefined);
          return;
        }
        const kind = classifyNetError(err);
        finish(kind.kind === "outage" ? kind.reason : undefined);
      });
    } catch (err) {
      const kind = classifyNetError(err);
      finish(kind.kind === "outage" ? kind.reason : undefined);
    }
  });
}
