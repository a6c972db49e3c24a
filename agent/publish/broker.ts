import { createServer, type Server } from "node:net";
import { Aedes } from "aedes";
import { QosProbeError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * The embedded MQTT broker for a one-box setup (no `mqtt` section): aedes on loopback. aedes 1.x speaks
 * MQTT 3.1.1 only, so clients of this broker use protocol version 4; real deployments use Mosquitto or
 * EMQX with MQTT 5. In memory: retained status and queued QoS 1 messages do not survive its restart,
 * which is why the agent's own outbox, not the broker, is what makes delivery durable.
 */
export class EmbeddedBroker {
  private readonly host: string;
  private readonly port: number;
  private readonly log: Logger;
  private broker: Aedes | undefined;
  private server: Server | undefined;

  constructor(opts: { host: string; port: number; log: Logger }) {
    this.host = opts.host;
    this.port = opts.port;
    this.log = opts.log;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          new QosProbeError(
            "MQTT",
            `embedded broker cannot listen on ${this.host}:${this.port}: ${err.message}`,
            {
              hint:
                err.code === "EADDRINUSE"
                  ? "a broker already runs there: point the config's mqtt.url at it, or set embedded_broker.listen to a free port"
                  : "check embedded_broker.listen",
            },
          ),
        );
      });
      server.listen(this.port, this.host, () => resolve());
    });
    this.broker = broker;
    this.server = server;
    this.log.info({ host: this.host, port: this.address().port }, "embedded MQTT 3.1.1 broker listening");
  }

  address(): { host: string; port: number } {
    const a = this.server?.address();
    if (!a || typeof a === "string") throw new QosProbeError("MQTT", "embedded broker is not started");
    return { host: this.host, port: a.port };
  }

  get url(): string {
    const { host, port } = this.address();
    return `mqtt://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
