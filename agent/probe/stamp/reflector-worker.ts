import { parentPort, workerData } from "node:worker_threads";
import { libc as loadFfi } from "../../net/libc.js";
import { RecvCtx } from "../../net/recv.js";
import { bindSys, C } from "../../net/sys.js";
import { STAMP_MAX_DATAGRAM_BYTES } from "../limits.js";
import { createReflectorLoop } from "./reflector-loop.js";
import { type ReflectorWorkerData, SLOT } from "./reflector-shared.js";

/**
 * The reflector's packet loop (reflector-loop.ts) in a worker thread of its own: poll(2) blocks on the
 * socket, then drain() answers what waits. Nothing else runs in this isolate, so no garbage collection
 * of the agent's main heap can fall between a reply's T3 and its sendto (the reply is built without
 * allocating from T3 on). Stop: the main thread sets the stop flag and shutdown(SHUT_RD)s the fd, which
 * wakes poll(). The main-thread engine (reflector-kernel.ts) runs the same loop without this isolate.
 */

const POLL_TIMEOUT_MS = 200;

async function main(data: ReflectorWorkerData): Promise<void> {
  const libc = loadFfi();
  if (!libc) throw new Error("koffi did not load in the reflector worker");
  const sys = bindSys(libc);
  const shared = new Int32Array(data.shared);
  const ctx = new RecvCtx(sys, STAMP_MAX_DATAGRAM_BYTES, 512);
  // The error queue is read into its own block, so reading a TX stamp mid-packet leaves the request's
  // address, TTL and TOS in `ctx` untouched.
  const errCtx = new RecvCtx(sys, 64, 512);
  parentPort?.postMessage("ready");
  try {
    const loop = createReflectorLoop(sys, ctx, errCtx, shared, data);
    const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
    pfd.writeInt32LE(data.fd, 0);
    pfd.writeInt16LE(C.POLLIN, 4);
    while (Atomics.load(shared, SLOT.stop) === 0) {
      pfd.writeInt16LE(0, 6);
      if (Number(sys.poll(pfd, 1, POLL_TIMEOUT_MS)) <= 0) continue;
      if (!loop.drain()) return;
    }
  } finally {
    ctx.free();
    errCtx.free();
  }
}

main(workerData as ReflectorWorkerData).catch((err) => {
  parentPort?.postMessage({ error: (err as Error).message });
});
