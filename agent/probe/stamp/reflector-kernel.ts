import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import { QosProbeError } from "../../errors.js";
import type { Libc } from "../../net/libc.js";
import { RecvCtx } from "../../net/recv.js";
import { bindSys, C, openUdpFd, type Sys, SysError } from "../../net/sys.js";
import { REFLECTOR_RECEIVE_BUFFER_BYTES, STAMP_MAX_DATAGRAM_BYTES } from "../limits.js";
import type { ClockSyncState } from "../prober.js";
import { encodeErrorEstimate, errorEstimateFromSync } from "./error-estimate.js";
import type { ReflectorCounters, ReflectorOptions } from "./reflector.js";
import { bindHint } from "./reflector.js";
import { createReflectorLoop } from "./reflector-loop.js";
import { type ReflectorWorkerData, SHARED_SLOTS, SLOT } from "./reflector-shared.js";

/**
 * Where the kernel-timestamped reflector's packet loop (reflector-loop.ts) runs.
 *
 * "main": on the agent's main thread, woken by a libuv poll handle on the socket (koffi.node.poll, as
 *   the Session-Sender's socket is). T2 is the kernel's receive stamp and T3 is read right before
 *   sendto(), so a busy event loop lengthens the residence time T3 − T2 (which the sender subtracts)
 *   and changes no delay figure. What the main thread can add is a pause between T3 and the wire (V8
 *   finishing a garbage collection at a call there): each reply's kernel TX stamp measures it
 *   (reply_tx_gap_max_us, reply_tx_late_over_1ms) and Follow-Up Telemetry reports it to senders that
 *   ask. Costs no thread and no second V8 isolate.
 * "worker": in a worker thread of its own (reflector-worker.ts), blocked in poll(2): nothing else runs
 *   in that isolate, so not even that pause; a second isolate costs ≈ 9–10 MiB resident (bench:agent).
 */
export type ReflectorThread = "main" | "worker";

/** The default: see ReflectorThread and agent/node-flags.ts for the measurements behind it. */
export const DEFAULT_REFLECTOR_THREAD: ReflectorThread = "main";

/** What the engine stops: the worker thread, or the main thread's poll handle. */
interface LoopRunner {
  /** After the stop flag is set and the socket shut down for reading: wait for the loop to end. */
  stop(): Promise<void>;
}

/** How often the Error Estimate the reflector sends is refreshed from the clock-sync state. */
const SYNC_REFRESH_MS = 1_000;
/** A worker that has not left this long after shutdown(SHUT_RD) is terminated: stop never hangs. */
const JOIN_TIMEOUT_MS = 2_000;

/**
 * The compiled worker beside this file: in the bundle, reflector-worker.cjs (scripts/bundle.ts builds
 * it as one CommonJS file, which spares the worker's isolate Node.js's ES module loader); in the tsc
 * output, reflector-worker.js. When running from TypeScript source (vitest), the one `npm run build`
 * put in dist/agent/ (a worker thread cannot load .ts).
 */
function workerUrl(): URL {
  const bundled = new URL("./reflector-worker.cjs", import.meta.url);
  if (existsSync(bundled)) return bundled;
  const sibling = new URL("./reflector-worker.js", import.meta.url);
  if (import.meta.url.endsWith(".js") || existsSync(sibling)) return sibling;
  const built = new URL("../../../dist/agent/probe/stamp/reflector-worker.js", import.meta.url);
  if (!existsSync(built)) {
    throw new QosProbeError("PROBE_SETUP", "the reflector worker is not built", {
      hint: "run npm run build",
    });
  }
  return built;
}

/**
 * The kernel-timestamped reflector: opens and binds the socket, runs the packet loop (reflector-loop.ts)
 * on this thread or in a worker (ReflectorThread), reads its counters from the shared Int32Array, and
 * stops it in order: stop flag, shutdown(SHUT_RD) (ends the loop), join or close the poll handle, close.
 */
export class KernelReflectorEngine {
  private readonly shared: Int32Array;
  private refresh: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly sys: Sys,
    private readonly fd: number,
    private readonly runner: LoopRunner,
    shared: SharedArrayBuffer,
    private readonly bound: AddressInfo,
    /** Where the packet loop runs. */
    readonly thread: ReflectorThread,
    /** The receive queue's limit as the kernel applies it (OpenedFd.rcvbufBytes). */
    readonly receiveBufferBytes: number,
  ) {
    this.shared = new Int32Array(shared);
  }

  static async start(libc: Libc, o: ReflectorOptions): Promise<KernelReflectorEngine> {
    const sys = bindSys(libc);
    const family = o.host.includes(":") ? 6 : 4;
    let fd: number;
    let port: number;
    let rcvbuf: number;
    try {
      const opened = openUdpFd(sys, {
        family,
        bindAddress: o.host,
        bindPort: o.port,
        // TX stamps of its own replies: how late each really left after its T3, reported back to
        // senders that ask (RFC 8972 §4.7 Follow-Up Telemetry) and counted.
        txStamps: true,
        v6Only: false,
        rcvbufBytes: o.receiveBufferBytes ?? REFLECTOR_RECEIVE_BUFFER_BYTES,
      });
      fd = opened.fd;
      port = opened.localPort;
      rcvbuf = opened.rcvbufBytes;
    } catch (err) {
      const code = err instanceof SysError ? err.code : undefined;
      throw new QosProbeError(
        "PROBE_SETUP",
        `cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`,
        {
          cause: err,
          hint: bindHint(code, o.port),
        },
      );
    }
    const shared = new SharedArrayBuffer(SHARED_SLOTS * 4);
    const pps = o.rateLimitPps ?? 0;
    const data: ReflectorWorkerData = {
      fd,
      family,
      shared,
      authMode: o.authMode ?? "open",
      authKey: o.authKey?.length ? new Uint8Array(o.authKey) : null,
      allow: [...(o.allow ?? [])],
      rateLimitPps: pps,
      rateLimitBurst: o.rateLimitBurst ?? Math.max(1, pps),
      stateful: o.stateful ?? false,
    };
    const syncOf = () => (typeof o.clockSync === "function" ? o.clockSync() : o.clockSync);
    Atomics.store(new Int32Array(shared), SLOT.errorEstimate, errorEstimateOf(syncOf()));
    const thread = o.thread ?? DEFAULT_REFLECTOR_THREAD;
    let runner: LoopRunner;
    try {
      runner = thread === "worker" ? await startWorker(data, o) : startOnMainThread(sys, data, o);
    } catch (err) {
      sys.close(fd);
      throw new QosProbeError("PROBE_SETUP", `reflector loop did not start: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const bound: AddressInfo = { address: o.host, family: family === 6 ? "IPv6" : "IPv4", port };
    const engine = new KernelReflectorEngine(sys, fd, runner, shared, bound, thread, rcvbuf);
    engine.refresh = setInterval(() => {
      Atomics.store(engine.shared, SLOT.errorEstimate, errorEstimateOf(syncOf()));
    }, SYNC_REFRESH_MS);
    engine.refresh.unref();
    return engine;
  }

  address(): AddressInfo {
    return { ...this.bound };
  }

  counters(): ReflectorCounters {
    const v = (slot: number) => Atomics.load(this.shared, slot);
    return {
      received: v(SLOT.received),
      reflected: v(SLOT.reflected),
      dropped_malformed: v(SLOT.dropped_malformed),
      dropped_auth: v(SLOT.dropped_auth),
      dropped_not_allowed: v(SLOT.dropped_not_allowed),
      dropped_rate_limited: v(SLOT.dropped_rate_limited),
      dropped_oversize: v(SLOT.dropped_oversize),
      dropped_kernel: v(SLOT.dropped_kernel),
      residence_over_1ms: v(SLOT.residence_over_1ms),
      residence_max_us: v(SLOT.residence_max_us),
      reply_tx_gap_max_us: v(SLOT.reply_tx_gap_max_us),
      reply_tx_late_over_1ms: v(SLOT.reply_tx_late_over_1ms),
      tlv_hmac_failed: v(SLOT.tlv_hmac_failed),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.refresh);
    Atomics.store(this.shared, SLOT.stop, 1);
    // Wakes a poll()/recvmsg blocked on the fd (close() would not: the blocked call keeps the socket).
    this.sys.shutdown(this.fd, C.SHUT_RD);
    await this.runner.stop();
    this.sys.close(this.fd);
  }
}

/** The loop in a worker thread (reflector-worker.ts), once it says it is ready. */
async function startWorker(data: ReflectorWorkerData, o: ReflectorOptions): Promise<LoopRunner> {
  const worker = new Worker(workerUrl(), { workerData: data, name: "stamp-reflector" });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once("message", (m) => (m === "ready" ? resolve() : reject(new Error(String(m?.error ?? m)))));
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`reflector worker exited with ${code}`)));
    });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  worker.removeAllListeners();
  worker.on("error", (err) => o.log?.error({ err }, "reflector worker failed"));
  return {
    async stop() {
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      const timer = new Promise<"timeout">((resolve) =>
        setTimeout(() => resolve("timeout"), JOIN_TIMEOUT_MS).unref(),
      );
      // The worker polls with a short timeout and checks the flag, so this only trips if it is wedged.
      if ((await Promise.race([exited, timer])) === "timeout") await worker.terminate();
    },
  };
}

/**
 * The loop on this thread: a libuv poll handle on the socket calls drain() whenever a datagram (or a
 * TX stamp) waits. libuv stops a poll handle whose fd reports POLLERR (the error queue holds TX
 * stamps) and calls back with a negative status: drain, then start it again (kernel-udp.ts does the
 * same). The handle keeps the process alive, as the worker thread did.
 */
function startOnMainThread(sys: Sys, data: ReflectorWorkerData, o: ReflectorOptions): LoopRunner {
  const ctx = new RecvCtx(sys, STAMP_MAX_DATAGRAM_BYTES, 512);
  const errCtx = new RecvCtx(sys, 64, 512);
  const loop = createReflectorLoop(sys, ctx, errCtx, new Int32Array(data.shared), data);
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    handle.close(); // before the engine closes the fd: libuv must stop watching the number first
    ctx.free();
    errCtx.free();
  };
  // koffi 3.3.4 calls back with (status, events) although its typings say (events): cast.
  type PollCb = Parameters<Sys["koffi"]["node"]["poll"]>[1];
  const onEvent = ((status: number) => {
    if (done) return;
    let open = true;
    try {
      open = loop.drain();
    } catch (err) {
      o.log?.error({ err }, "reflector loop failed on a datagram");
    }
    if (!open) finish();
    else if (status < 0) handle.start({ readable: true }, onEvent);
  }) as unknown as PollCb;
  const handle = sys.koffi.node.poll(data.fd, { readable: true }, onEvent);
  return {
    async stop() {
      finish();
    },
  };
}

function errorEstimateOf(sync: ClockSyncState): number {
  return encodeErrorEstimate(errorEstimateFromSync(sync));
}
