import type { Sample } from "./probe/prober.js";

/**
 * Live progress for a person at a terminal: one line rewritten in place on stderr. Silent when stderr
 * is not a TTY so logs and pipes stay clean.
 */
export class Progress {
  private readonly total: number;
  private readonly stream: NodeJS.WriteStream;
  private settled = 0;
  private lost = 0;
  private last: number | null = null;
  private lastDrawMs = 0;

  constructor(total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.total = total;
    this.stream = stream;
  }

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  onSample(s: Sample): void {
    if (s.dup) return;
    this.settled += 1;
    if (s.rtt_ms === null) this.lost += 1;
    else this.last = s.rtt_ms;
    const now = performance.now();
    // Redraw at most ~20 times a second: a 1000 pps test must not spend its time painting.
    if (this.enabled && (now - this.lastDrawMs > 50 || this.settled === this.total)) {
      this.lastDrawMs = now;
      this.draw();
    }
  }

  done(): void {
    if (this.enabled) this.stream.write("\r\x1b[2K");
  }

  private draw(): void {
    const width = 24;
    const filled = Math.round((this.settled / Math.max(1, this.total)) * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const last = this.last === null ? "–" : `${this.last.toFixed(3)} ms`;
    this.stream.write(`\r\x1b[2K${bar} ${this.settled}/${this.total}  lost ${this.lost}  last RTT ${last}`);
  }
}
