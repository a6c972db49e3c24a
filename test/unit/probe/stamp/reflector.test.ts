import { describe, expect, it } from "vitest";
import { literalLookup } from "../../../../agent/probe/stamp/reflector.js";

type Answer = { err: unknown; address: string; family: number };

/** Call the lookup and report whether its answer came back before it returned (synchronously). */
function ask(address: string, family: 4 | 6): { sync: boolean; answer: Promise<Answer> } {
  let returned = false;
  let sync = false;
  const answer = new Promise<Answer>((resolve) => {
    literalLookup(address, { family }, (err, addr, fam) => {
      sync = !returned;
      resolve({ err, address: addr, family: fam });
    });
  });
  returned = true;
  return { sync, answer };
}

describe("reflector reply address lookup", () => {
  it("hands an IP literal straight back, before returning, with its family", async () => {
    // rinfo.address of an IPv4 peer, an IPv4-mapped peer on a dual-stack socket, and an IPv6 peer.
    const cases: [string, 4 | 6, number][] = [
      ["127.0.0.1", 4, 4],
      ["::ffff:192.0.2.1", 6, 6],
      ["2001:db8::7", 6, 6],
    ];
    for (const [address, socketFamily, family] of cases) {
      const { sync, answer } = ask(address, socketFamily);
      expect(sync).toBe(true);
      expect(await answer).toEqual({ err: null, address, family });
    }
  });

  it("leaves a host name to the resolver, which answers on a later tick", async () => {
    // "localhost" with family 4 is 127.0.0.1 in every /etc/hosts; the point is that it is not
    // echoed back as if it were an address.
    const { sync, answer } = ask("localhost", 4);
    expect(sync).toBe(false);
    expect(await answer).toEqual({ err: null, address: "127.0.0.1", family: 4 });
  });
});

describe("bindHint", () => {
  it("says what to do for each way a bind fails", async () => {
    const { bindHint } = await import("../../../../agent/probe/stamp/reflector.js");
    expect(bindHint("EADDRINUSE", 8620)).toBe(
      "something already listens on UDP port 8620 (another reflector or agent?)",
    );
    expect(bindHint("EACCES", 862)).toBe(
      "port 862 is privileged: run with CAP_NET_BIND_SERVICE (the systemd unit grants it)",
    );
    expect(bindHint("EADDRNOTAVAIL", 862)).toBe("that address is not on this host: check the listen address");
  });
});
