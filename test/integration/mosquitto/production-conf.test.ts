import { execFileSync } from "node:child_process";
import { chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectAsync, ErrorWithReasonCode, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type PrivateMosquitto, startMosquitto } from "../../helpers/mosquitto.js";

/**
 * scripts/mosquitto/mosquitto.conf and its ACL, run for real: Mosquitto started with the production file
 * (only its paths moved into a temp directory and its ports onto free loopback ones), accounts made with
 * mosquitto_passwd, a throw-away CA and server certificate made with openssl. Agents are MQTT 5 clients
 * over the TLS listener; the collector uses the loopback plain listener.
 */

const CONF = new URL("../../../scripts/mosquitto/mosquitto.conf", import.meta.url);
const ACL = new URL("../../../scripts/mosquitto/acl", import.meta.url);
const ROOT = "qosprobe/v1";
const BJ = "unicom/110000/bj-unicom-01";
const GZ = "unicom/440000/gz-unicom-01";
const PASSWORDS: Record<string, string> = {
  [BJ]: "bj-secret",
  [GZ]: "gz-secret",
  collector: "c-secret",
  regulator: "r-secret",
};

let broker: PrivateMosquitto;
let tlsPort: number;
let ca: Buffer;
let confDir = "";
const clients: MqttClient[] = [];

/** The test's whole PKI: a CA and a server certificate for 127.0.0.1 (P-256), valid one day. */
function makeCertificates(dir: string): void {
  const openssl = (args: string) => execFileSync("openssl", args.split(" "), { cwd: dir, stdio: "pipe" });
  const key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  openssl(`req -x509 ${key} -keyout ca.key -out ca.pem -days 1 -subj /CN=qos-probe-test-CA`);
  openssl(`req ${key} -keyout server.key -out server.csr -subj /CN=127.0.0.1`);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile san.ext",
  );
}

function productionConf(where: { port: number; dir: string; dataDir: string }): string {
  const { dir, dataDir, port } = where;
  confDir = dir;
  // Written here because Mosquitto reads them after dropping to the `mosquitto` user: in its directory.
  makeCertificates(dir);
  writeFileSync(join(dir, "acl"), readFileSync(ACL));
  for (const [user, password] of Object.entries(PASSWORDS)) {
    const create = Object.keys(PASSWORDS)[0] === user ? ["-c"] : [];
    execFileSync("mosquitto_passwd", [...create, "-b", join(dir, "passwd"), user, password], {
      stdio: "pipe",
    });
  }
  const owner = mosquittoOwner();
  if (owner) {
    for (const f of ["acl", "passwd", "server.pem", "server.key"])
      chownSync(join(dir, f), owner.uid, owner.gid);
  }
  const text = readFileSync(CONF, "utf8")
    .replaceAll("/etc/mosquitto/qos-probe/tls/", `${dir}/`)
    .replaceAll("/etc/mosquitto/qos-probe/", `${dir}/`)
    .replaceAll("/var/lib/mosquitto/", `${dataDir}/`)
    .replace(/^listener 8883$/m, `listener ${tlsPort} 127.0.0.1`)
    .replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} 127.0.0.1`);
  // The substitutions must all have happened: no setting may point at the real /etc or the real ports.
  const settings = text.split("\n").filter((l) => !l.startsWith("#"));
  expect(
    settings.filter((l) => /\/etc\/mosquitto|\/var\/lib\/mosquitto|^listener (8883|1883)/.test(l)),
  ).toEqual([]);
  return text;
}

function mosquittoOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("mosquitto:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : null;
}

async function agent(username: string): Promise<MqttClient> {
  const client = await connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
    protocolVersion: 5,
    clientId: `test-${username.split("/")[2]}`,
    username,
    password: PASSWORDS[username],
    ca,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    // As the agent connects: a persistent session and its Last Will on its own status topic.
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    will: { topic: `${ROOT}/${username}/status`, payload: Buffer.from("offline"), qos: 1, retain: true },
  });
  clients.push(client);
  return client;
}

async function collector(username = "collector"): Promise<MqttClient> {
  const client = await connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: `test-${username}`,
    username,
    password: PASSWORDS[username],
    reconnectPeriod: 0,
  });
  clients.push(client);
  return client;
}

/** Messages arriving on `client` from now on, in order. */
function inbox(client: MqttClient): { topic: string; body: string }[] {
  const got: { topic: string; body: string }[] = [];
  client.on("message", (topic, payload) => got.push({ topic, body: payload.toString() }));
  return got;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The PUBACK reason code of a QoS 1 publish: 0 for success. */
async function pubackCode(client: MqttClient, topic: string, body: string, retain = false): Promise<number> {
  try {
    const packet = await client.publishAsync(topic, body, { qos: 1, retain });
    return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (err) {
    if (err instanceof ErrorWithReasonCode) return err.code;
    throw err;
  }
}

beforeAll(async () => {
  tlsPort = await freePort();
  broker = await startMosquitto({ config: productionConf });
  ca = readFileSync(join(confDir, "ca.pem"));
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await broker?.stop();
});

describe("scripts/mosquitto production configuration", () => {
  it("refuses anonymous clients and wrong passwords", async () => {
    const refused = async (options: object) =>
      connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0, ...options }).then(
        (c) => {
          clients.push(c);
          return 0;
        },
        (err: unknown) => (err as { code?: number }).code ?? -1,
      );
    // Mosquitto 2.0.11 answers both with MQTT 5 CONNACK 0x87 Not authorized (not 0x86 Bad User Name or
    // Password): a probe's log shows "Not authorized" for a wrong password too.
    expect(await refused({ clientId: "anon" })).toBe(0x87);
    expect(await refused({ clientId: "bad", username: BJ, password: "wrong" })).toBe(0x87);
  });

  it("lets an agent publish its own result, status and config ack, and nothing of another site", async () => {
    const c = await collector();
    const seen = inbox(c);
    await c.subscribeAsync(`$share/collectors/${ROOT}/+/+/+/result/+`, { qos: 1 });
    const bj = await agent(BJ);
    expect(await pubackCode(bj, `${ROOT}/${BJ}/result/bj-gz-stamp`, "own result")).toBe(0);
    expect(await pubackCode(bj, `${ROOT}/${BJ}/status`, "online", true)).toBe(0);
    expect(await pubackCode(bj, `${ROOT}/${BJ}/config/ack`, "accepted")).toBe(0);
    // Mosquitto 2.0.11 answers a denied QoS 1 PUBLISH with PUBACK 0x87 (Not authorized) and keeps the
    // connection: the agent sees the refusal as an error code, not as a drop.
    expect(await pubackCode(bj, `${ROOT}/${GZ}/result/gz-bj-stamp`, "forged result")).toBe(0x87);
    expect(await pubackCode(bj, `${ROOT}/${GZ}/status`, "forged status")).toBe(0x87);
    expect(await pubackCode(bj, `${ROOT}/${BJ}/config`, "self-signed config")).toBe(0x87);
    expect(await pubackCode(bj, `${ROOT}/${BJ}/receipt`, "self-made receipt")).toBe(0x87);
    expect(bj.connected).toBe(true);
    // Published after the forged one on the same connection: once it is here, the forged one never comes.
    expect(await pubackCode(bj, `${ROOT}/${BJ}/result/bj-xj-stamp`, "second own result")).toBe(0);
    await until(() => seen.length >= 2, "the collector's two deliveries");
    expect(seen).toEqual([
      { topic: `${ROOT}/${BJ}/result/bj-gz-stamp`, body: "own result" },
      { topic: `${ROOT}/${BJ}/result/bj-xj-stamp`, body: "second own result" },
    ]);
  });

  it("lets an agent read its own receipts but not another site's, and the collector write them", async () => {
    const bj = await agent(BJ);
    const gz = await agent(GZ);
    const bjGot = inbox(bj);
    const gzGot = inbox(gz);
    // Mosquitto 2.0.11 grants the subscription (its ACL file does not check subscribe) and checks
    // read access for every message it would deliver.
    await bj.subscribeAsync([`${ROOT}/${BJ}/receipt`, `${ROOT}/${GZ}/receipt`], { qos: 1 });
    await gz.subscribeAsync(`${ROOT}/${GZ}/receipt`, { qos: 1 });
    const c = await collector();
    expect(await pubackCode(c, `${ROOT}/${GZ}/receipt`, "gz receipt")).toBe(0);
    expect(await pubackCode(c, `${ROOT}/${BJ}/receipt`, "bj receipt")).toBe(0);
    // A collector may not publish results or configuration.
    expect(await pubackCode(c, `${ROOT}/${BJ}/result/x`, "collector result")).toBe(0x87);
    expect(await pubackCode(c, `${ROOT}/${BJ}/config`, "collector config")).toBe(0x87);
    // In order from one publisher: bj's own receipt came after gz's, so once it is here gz's was withheld.
    await until(() => bjGot.length >= 1 && gzGot.length >= 1, "both agents' receipts");
    expect(bjGot.map((m) => m.body)).toEqual(["bj receipt"]);
    expect(gzGot.map((m) => m.body)).toEqual(["gz receipt"]);
  });

  it("lets the regulator publish retained site and operator-wide configuration, and agents read it", async () => {
    const regulator = await collector("regulator");
    expect(await pubackCode(regulator, `${ROOT}/unicom/config`, "operator-wide v7", true)).toBe(0);
    expect(await pubackCode(regulator, `${ROOT}/${BJ}/config`, "bj v7", true)).toBe(0);
    const bj = await agent(BJ);
    // An agent may not publish the operator-wide envelope either.
    expect(await pubackCode(bj, `${ROOT}/unicom/config`, "forged operator-wide")).toBe(0x87);
    const got = inbox(bj);
    await bj.subscribeAsync([`${ROOT}/unicom/config`, `${ROOT}/${BJ}/config`], { qos: 1 });
    await until(() => got.length >= 2, "both retained configurations");
    expect(got.map((m) => m.body).sort()).toEqual(["bj v7", "operator-wide v7"]);
    await pubackCode(regulator, `${ROOT}/unicom/config`, "", true);
    await pubackCode(regulator, `${ROOT}/${BJ}/config`, "", true);
  });
});
