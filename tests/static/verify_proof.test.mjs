// static/verify.js's proof code, run by Node's test runner against the vectors the Python code
// is tested with (tests/anchoring/vectors/): RFC 9162 inclusion proofs (the RFC 6962 reference
// tree, larger trees, transparency-dev/merkle's probes with their must-fail cases), RFC 8785
// canonical JSON, and the C2SP signed-note and checkpoint examples with their negative cases.
// Driven by tests/static/test_verify_js.py (`node --test tests/static/`).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);
const proof = require("../../static/verify.js");
const vector = (name) =>
  JSON.parse(readFileSync(new URL(`../anchoring/vectors/${name}`, import.meta.url), "utf8"));
const utf8 = (s) => new TextEncoder().encode(s);

// What the page does with a bundle's inclusion proof: recompute the root, compare it.
async function inclusionHolds(leafHex, index, size, proofHex, rootHex) {
  try {
    const root = await proof.rootFromInclusion(proof.unhex(leafHex), index, size,
                                               (proofHex || []).map(proof.unhex));
    return proof.equal(root, proof.unhex(rootHex));
  } catch {
    return false;
  }
}

// What the page does with a checkpoint (parse it, check its signature by the key); ``parse`` is
// parseNote for a note that is not a checkpoint.
async function signedBy(note, vkey, parse = proof.parseCheckpoint) {
  try {
    return await proof.verifyNote(parse(note), vkey);
  } catch {
    return null;
  }
}

// --- RFC 9162 Merkle tree hashes and inclusion proofs ---------------------------------------

test("reference tree: every root", async () => {
  const tree = vector("rfc6962_reference_tree.json");
  const leaves = tree.leaf_inputs_hex.map(proof.unhex);
  for (let n = 0; n <= leaves.length; n++) {
    assert.equal(proof.hex(await proof.mth(leaves.slice(0, n))), tree.roots_by_size_hex[n], `size ${n}`);
  }
});

test("reference tree: every inclusion proof verifies, and fails when altered", async () => {
  const all = vector("generated_rfc9162_reference_tree_all_proofs.json");
  assert.equal(all.inclusion.length, 36);
  for (const c of all.inclusion) {
    const args = [c.leaf_hash_hex, c.leaf_index, c.tree_size];
    assert.ok(await inclusionHolds(...args, c.proof_hex, c.root_hex), JSON.stringify(c));
    if (c.proof_hex.length) {
      assert.equal(await inclusionHolds(...args, c.proof_hex.slice(0, -1), c.root_hex), false);
      const flipped = c.proof_hex.map((h, i) => (i === 0 ? (h[0] === "0" ? "1" : "0") + h.slice(1) : h));
      assert.equal(await inclusionHolds(...args, flipped, c.root_hex), false);
    }
    assert.equal(await inclusionHolds(...args, [...c.proof_hex, c.root_hex], c.root_hex), false);
  }
});

test("larger trees: roots of small ones and inclusion proofs of all", async () => {
  const larger = vector("generated_rfc9162_larger_trees.json");
  for (const t of larger.trees) {
    const leafHash = async (i) => proof.hex(await proof.leafHash(utf8(`evidence-${i}`)));
    if (t.tree_size <= 1000) {
      const leaves = Array.from({ length: t.tree_size }, (_, i) => utf8(`evidence-${i}`));
      assert.equal(proof.hex(await proof.mth(leaves)), t.root_hex, `size ${t.tree_size}`);
    }
    for (const c of t.inclusion) {
      const leaf = await leafHash(c.leaf_index);
      assert.ok(await inclusionHolds(leaf, c.leaf_index, t.tree_size, c.proof_hex, t.root_hex));
      assert.equal(await inclusionHolds(leaf, c.leaf_index + 1, t.tree_size, c.proof_hex, t.root_hex), false);
    }
  }
});

test("transparency-dev/merkle probes: the 6 valid verify, the 92 must-fail are refused", async () => {
  const probes = vector("tdmerkle_inclusion.json");
  const verdicts = { true: 0, false: 0 };
  for (const c of probes.cases) {
    const got = await inclusionHolds(c.leaf_hash_hex, c.leaf_index, c.tree_size, c.proof_hex, c.root_hex);
    assert.equal(got, c.expect_valid, c.id);
    verdicts[got] += 1;
  }
  assert.deepEqual(verdicts, { true: 6, false: 92 });
});

test("the proformas hash link's empty tree is SHA-256 of nothing", async () => {
  assert.equal(proof.hex(await proof.mth([])),
               "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

// --- RFC 8785 canonical JSON -------------------------------------------------------------------

test("canonical JSON: the shared vectors, byte for byte", () => {
  const { cases } = vector("canonical_json.json");
  const valid = cases.filter((c) => c.canonical !== null);
  assert.ok(valid.length > 40);
  for (const c of valid) assert.equal(proof.jcs(JSON.parse(c.json)), c.canonical, c.json);
});

test("canonical JSON: inputs without a canonical form are refused", () => {
  const { cases } = vector("canonical_json.json");
  const invalid = cases.filter((c) => c.canonical === null);
  assert.ok(invalid.length >= 2);
  for (const c of invalid) assert.throws(() => proof.jcs(JSON.parse(c.json)), c.json);
  for (const v of [NaN, Infinity, -Infinity, [1, NaN], { a: "\uDC00x" }]) assert.throws(() => proof.jcs(v));
});

// --- C2SP signed notes and checkpoints ---------------------------------------------------------

test("C2SP signed-note example verifies; its negative cases do not", async () => {
  const c2sp = vector("c2sp_signed_note_example.json");
  const note = { text: c2sp.note_text, signatures: [c2sp.signature_line] };
  assert.equal(await proof.verifyNote(note, c2sp.vkey), "example.com/foo");
  assert.equal(await signedBy(c2sp.full_note, c2sp.vkey, proof.parseNote), "example.com/foo");
  assert.equal(c2sp.negative_cases.length, 2);
  for (const bad of c2sp.negative_cases) {
    const note = `${bad.note_text}\n${c2sp.signature_line}\n`;
    assert.equal(await signedBy(note, c2sp.vkey, proof.parseNote), null, bad.desc);
  }
});

test("generated checkpoint: parsed, signed by its key; altered ones are refused", async () => {
  const cp = vector("generated_checkpoint_and_tlog_proof.json");
  const parsed = proof.parseCheckpoint(cp.checkpoint);
  assert.equal(parsed.origin, cp.origin);
  assert.equal(parsed.size, cp.tree_size);
  assert.equal(proof.hex(parsed.root), cp.root_hex);
  assert.equal(await signedBy(cp.checkpoint, cp.vkey), cp.origin);
  assert.equal(cp.negative_cases.length, 2);
  for (const bad of cp.negative_cases) assert.equal(await signedBy(bad.checkpoint, cp.vkey), null, bad.desc);
});

test("a checkpoint is not accepted under another key, a bad key or a tampered signature", async () => {
  const cp = vector("generated_checkpoint_and_tlog_proof.json");
  const c2sp = vector("c2sp_signed_note_example.json");
  const [name, id, key] = [cp.vkey.split("+")[0], cp.vkey.split("+")[1], cp.vkey.split("+").slice(2).join("+")];
  const badKeys = [
    c2sp.vkey,  // another log's key
    `${name}+00000000+${key}`,  // wrong key id
    `${name}+${id}+${key.slice(0, -1)}`,  // truncated key
    `${name}+${id}+ ${key}`,  // not canonical base64
    `other.name+${id}+${key}`,  // another name: the signature line names the origin
  ];
  for (const vkey of badKeys) assert.equal(await signedBy(cp.checkpoint, vkey), null, vkey);
  const sig = cp.checkpoint.slice(cp.checkpoint.lastIndexOf(" ") + 1, -1);
  const flipped = (sig[10] === "A" ? "B" : "A");
  const tampered = cp.checkpoint.replace(sig, sig.slice(0, 10) + flipped + sig.slice(11));
  assert.equal(await signedBy(tampered, cp.vkey), null);
  assert.equal(await signedBy(cp.checkpoint.replace(/\n$/, ""), cp.vkey), null);  // no final newline
});

test("tlog-proof vector: its proof for leaf 5 verifies against its checkpoint's root", async () => {
  const cp = vector("generated_checkpoint_and_tlog_proof.json");
  const lines = cp.tlog_proof.text.split("\n");
  const hashes = lines.slice(2, lines.indexOf("")).map((b) => proof.hex(proof.unb64(b)));
  const leaf = proof.hex(await proof.leafHash(proof.unhex(cp.tlog_proof.leaf_input_hex)));
  assert.equal(leaf, cp.tlog_proof.leaf_hash_hex);
  assert.ok(await inclusionHolds(leaf, cp.tlog_proof.leaf_index, cp.tree_size, hashes, cp.root_hex));
});

test("hex and base64 readers refuse what is not canonical", () => {
  for (const bad of ["0", "zz", "0g", "abc"]) assert.throws(() => proof.unhex(bad), bad);
  for (const bad of ["AQ", "AQ==\n", "A Q==", "AR==", "@@@@"]) assert.throws(() => proof.unb64(bad), bad);
  assert.deepEqual([...proof.unb64("AQI=")], [1, 2]);
});
