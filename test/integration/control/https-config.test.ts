import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Agent } from "../../../agent/agent.js";
import { configHash } from "../../../agent/config/load.js";
import { HttpsConfigSource } from "../../../agent/control/https-source.js";
import { silentLogger } from "../../../agent/log.js";
import {
  bootstrap,
  envelope,
  makeKey,
  mesh,
  startAgent,
  type TestKey,
  tempDir,
  until,
  Watcher,
} from "../../helpers/control.js";
import { type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

/**
 * The HTTPS delivery (pSConfig-style polling) against a real local HTTPS server with a self-signed
 * certificate made by openssl for this test: the agent trusts it through control.https.ca_file, applies
 * the envelope, and a second poll with If-None-Match gets 304 Not Modified.
 */

const run = promisify(execFile);

async function selfSigned(dir: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, "server.key");
  const cert = join(dir, "server.crt");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ed25519",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return { key, cert };
}

describe("signed configuration over HTTPS (local server, self-signed certificate, ETag)", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: Server;
  let broker: PrivateMosquitto;
  let watcher: Watcher;
  let url: string;
  let certFile: string;
  let A: TestKey;
  let body = "";
  const seen: { ifNoneMatch: string | undefined; status: number }[] = [];
  const agents: Agent[] = [];

  beforeEach(async () => {
    dir = await tempDir();
    const tls = await selfSigned(dir.path);
    certFile = tls.cert;
    A = await makeKey();
    seen.length = 0;
    server = createServer({ key: await readFile(tls.key), cert: await readFile(tls.cert) }, (req, res) => {
      const etag = `"${configHash(body)}"`;
      const inm = req.headers["if-none-match"];
      if (inm === etag) {
        seen.push({ ifNoneMatch: inm, status: 304 });
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      seen.push({ ifNoneMatch: inm, status: 200 });
      res.writeHead(200, { etag, "content-type": "application/jose" });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mesh.jws`;
    broker = await startMosquitto();
    watcher = await Watcher.open(broker.url);
  });

  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop({ deadline_ms: 0 });
    await watcher.close();
    await broker.stop();
    await new Promise((resolve) => server.close(resolve));
    await dir.cleanup();
  });

  it("an agent polls, verifies and applies the envelope, and acks it over MQTT", async () => {
    const yaml = mesh(62);
    body = await envelope(A, 2, yaml);
    const agent = startAgent(
      bootstrap({
        site: "sh-op-01",
        dataDir: dir.path,
        brokerUrl: broker.url,
        keys: [A.pub],
        https: { url, ca_file: certFile },
      }),
    );
    await agent.start();
    agents.push(agent);
    await until(() => watcher.acksOf("sh-op-01").length === 1, "ack of the HTTPS envelope");
    expect(watcher.acksOf("sh-op-01")[0]).toMatchObject({
      decision: "accepted",
      config_version: 2,
      config_hash: configHash(yaml),
    });
    expect(seen).toEqual([{ ifNoneMatch: undefined, status: 200 }]);
  });

  it("sends If-None-Match with the last ETag: the second poll gets 304 and offers nothing", async () => {
    body = await envelope(A, 3, mesh(63));
    const offered: string[] = [];
    const source = new HttpsConfigSource({
      url,
      interval_s: 3600,
      ca: await readFile(certFile),
      onEnvelope: (text, from) => offered.push(`${from} ${text.length}`),
      log: silentLogger(),
    });
    try {
      expect(await source.poll()).toBe("fetched");
      expect(await source.poll()).toBe("not-modified");
      body = await envelope(A, 4, mesh(64)); // the regulator publishes a new version
      expect(await source.poll()).toBe("fetched");
      const etag = `"${configHash(await envelope(A, 3, mesh(63)))}"`;
      expect(seen.map((s) => s.status)).toEqual([200, 304, 200]);
      expect(seen[1]?.ifNoneMatch).toBe(etag);
      expect(offered).toHaveLength(2);
      expect(source.counters()).toEqual({ polls: 3, fetched: 2, not_modified: 1, errors: 0 });
    } finally {
      await source.stop();
    }
  });

  it("refuses a server whose certificate it does not trust (no ca_file): an error, nothing offered", async () => {
    body = await envelope(A, 5, mesh(65));
    const offered: string[] = [];
    const source = new HttpsConfigSource({
      url,
      interval_s: 3600,
      onEnvelope: (t) => offered.push(t),
      log: silentLogger(),
    });
    try {
      expect(await source.poll()).toBe("error");
      expect(offered).toEqual([]);
      expect(seen).toEqual([]);
    } finally {
      await source.stop();
    }
  });
});
