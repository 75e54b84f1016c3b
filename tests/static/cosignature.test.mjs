// static/verify.js's cosignature/v1 check (the witnesses step of the verification page), run by
// Node's test runner against the OpenSSL-made vectors the Python code is tested with
// (tests/anchoring/vectors/cosignature_v1.json), must-fail cases included.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);
const proof = require("../../static/verify.js");
const V = JSON.parse(readFileSync(new URL("../anchoring/vectors/cosignature_v1.json", import.meta.url), "utf8"));

test("cosignature/v1 known answers verify", async () => {
  for (const c of V.cases) {
    const got = await proof.verifyCosignatures(c.checkpoint_body, [c.signature_line], [V.vkey]);
    assert.deepEqual(got, { valid: [V.name], invalid: [] }, `timestamp ${c.timestamp}`);
  }
});

test("cosignature/v1 must-fail cases do not count", async () => {
  for (const c of V.negative_cases) {
    const body = c.checkpoint_body || V.cases[0].checkpoint_body;
    const got = await proof.verifyCosignatures(body, [c.signature_line], [V.vkey]);
    assert.deepEqual(got.valid, [], c.desc);
  }
});

test("a line by a configured witness that does not verify is reported", async () => {
  const line = V.negative_cases.find((c) => c.desc === "signature bit flipped").signature_line;
  const got = await proof.verifyCosignatures(V.cases[0].checkpoint_body, [line], [V.vkey]);
  assert.deepEqual(got, { valid: [], invalid: [V.name] });
});

test("other keys' lines are skipped and the key id must match", async () => {
  const body = V.cases[0].checkpoint_body;
  const lines = [V.spec_example.signature_line, V.cases[0].signature_line];
  assert.deepEqual((await proof.verifyCosignatures(body, lines, [V.vkey])).valid, [V.name]);
  const key = await proof.cosignerKey(V.vkey);
  assert.equal(proof.hex(key.keyId), V.key_id_hex);
  await assert.rejects(proof.cosignerKey(V.vkey.replace(V.key_id_hex, "00000000")));
  // An ordinary note key (type 0x01) is not a cosigner key.
  const noteKey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
  await assert.rejects(proof.cosignerKey(noteKey));
});
