import * as z from "zod";
import { type PublicKeyInfo, parsePublicKey, readPublicKeyFile } from "./keys.js";

/**
 * The agent's `control` section: where the regulator's signed configuration comes from and which keys
 * may sign it. It belongs to the local bootstrap file (with agent and mqtt); a signed mesh never
 * carries it, so a pushed configuration cannot change who may push the next one.
 */

const KeyFile = z.object({ file: z.string().min(1) }).strict();
/** An Ed25519 public JWK (RFC 8037) as printed by `qos-probe config keygen`. */
export const KeyJwk = z
  .object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string().regex(/^[A-Za-z0-9_-]{43}$/) })
  .strict();
const PinnedKey = z.union([KeyFile, KeyJwk], {
  error: "expected { file: PATH } (PEM or JWK file) or an inline JWK { kty: OKP, crv: Ed25519, x: … }",
});
export type PinnedKeyRef = z.infer<typeof PinnedKey>;

/** Read a pinned key reference into a key (throws QosProbeError naming the file or the bad JWK). */
export function loadPinnedKey(ref: PinnedKeyRef, what: string) {
  return "file" in ref ? readPublicKeyFile(ref.file) : parsePublicKey(ref, what);
}

export const ControlSchema = z
  .object({
    regulator_keys: z
      .array(PinnedKey)
      .min(1)
      .describe("pinned Ed25519 public keys of the regulator; list two while rotating, then drop the old"),
    mqtt: z
      .object({
        site: z.boolean().default(true).describe("subscribe to {root}/{operator}/{province}/{site}/config"),
        operator: z
          .boolean()
          .default(true)
          .describe("subscribe to {root}/{operator}/config (one mesh for all)"),
      })
      .strict()
      .prefault({}),
    https: z
      .object({
        url: z.url({ protocol: /^https$/, error: "must be an https:// URL" }),
        interval_s: z.number().int().min(10).max(86_400).default(300),
        ca_file: z.string().min(1).optional().describe("PEM CA bundle for a private regulator CA"),
      })
      .strict()
      .optional()
      .describe("poll a signed envelope over HTTPS (ETag / If-None-Match), ±20 % jitter"),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Config-time twin of the runtime check: every pin must load as an Ed25519 public key.
    c.regulator_keys.forEach((ref, i) => {
      try {
        loadPinnedKey(ref, `control.regulator_keys[${i}]`);
      } catch (err) {
        ctx.addIssue({
          code: "custom",
          path: ["regulator_keys", i],
          message: (err as Error).message,
          params: { hint: "give the .pub file or the JWK printed by: qos-probe config keygen" },
        });
      }
    });
  });
export type ControlConfig = z.infer<typeof ControlSchema>;

export type PinnedKeys = PublicKeyInfo[];
