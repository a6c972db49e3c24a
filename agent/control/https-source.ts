import { request, Agent as UndiciAgent } from "undici";
import type { Logger } from "../log.js";

/**
 * Poll the regulator's envelope over HTTPS, as pSConfig agents fetch their templates: a conditional
 * GET (If-None-Match with the last ETag, RFC 9110 §13.1.2) so an unchanged file costs a 304 and no
 * body, at a jittered interval (±20 %) so thirty or three thousand agents do not hit the server in
 * the same second. What arrives is only offered: the signature decides, not the transport.
 */

export interface HttpsSourceOptions {
  url: string;
  interval_s: number;
  /** PEM CA bundle, for a regulator server behind a private CA. */
  ca?: string | Buffer;
  onEnvelope: (text: string, source: string) => void;
  log: Logger;
  random?: () => number;
}

export interface HttpsSourceCounters {
  polls: number;
  fetched: number;
  not_modified: number;
  errors: number;
}

/** Bodies above this are refused unread (an envelope is a few KiB to a few hundred). */
const MAX_BODY_BYTES = 4 << 20;
const JITTER = 0.2;

export class HttpsConfigSource {
  private readonly o: HttpsSourceOptions;
  private readonly dispatcher: UndiciAgent;
  private etag: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly count: HttpsSourceCounters = { polls: 0, fetched: 0, not_modified: 0, errors: 0 };

  constructor(o: HttpsSourceOptions) {
    this.o = o;
    this.dispatcher = new UndiciAgent({
      connect: { rejectUnauthorized: true, ...(o.ca ? { ca: o.ca } : {}) },
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  }

  counters(): HttpsSourceCounters {
    return { ...this.count };
  }

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    await this.poll();
    if (this.stopped) return;
    const r = (this.o.random ?? Math.random)();
    const delay = this.o.interval_s * 1000 * (1 - JITTER + 2 * JITTER * r);
    this.timer = setTimeout(() => void this.loop(), delay);
  }

  /** One conditional GET. "fetched" hands the body to onEnvelope. Never throws. */
  async poll(): Promise<"fetched" | "not-modified" | "error"> {
    this.count.polls += 1;
    try {
      const res = await request(this.o.url, {
        method: "GET",
        dispatcher: this.dispatcher,
        headers: {
          accept: "application/jose, text/plain",
          ...(this.etag ? { "if-none-match": this.etag } : {}),
        },
      });
      if (res.statusCode === 304) {
        await res.body.dump();
        this.count.not_modified += 1;
        return "not-modified";
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`HTTP ${res.statusCode}`);
      }
      const length = Number(res.headers["content-length"] ?? 0);
      if (length > MAX_BODY_BYTES) {
        await res.body.dump();
        throw new Error(`body of ${length} bytes is larger than ${MAX_BODY_BYTES}`);
      }
      const text = await res.body.text();
      if (Buffer.byteLength(text) > MAX_BODY_BYTES)
        throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
      const etag = res.headers.etag;
      this.etag = typeof etag === "string" ? etag : null;
      this.count.fetched += 1;
      this.o.onEnvelope(text, `https:${this.o.url}`);
      return "fetched";
    } catch (err) {
      this.count.errors += 1;
      this.o.log.warn(
        { url: this.o.url, err: (err as Error).message },
        "signed configuration: HTTPS poll failed",
      );
      return "error";
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.dispatcher.close();
  }
}
