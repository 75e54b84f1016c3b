/* Veraz: verify an order on this device. No framework, nothing from a CDN.
 *
 * Fetches the proof bundle (docs/proof-format.md), the release and the order PDF at the URLs
 * the server puts in #verify-facts (built by portal/links.py; the PDF's URL and its declared
 * SHA-256 too, so this file never guesses which document is the PDF), and checks with
 * WebCrypto: the release's RFC 8785 hash, the PDF's SHA-256, the proformas hash link, the log
 * entry, the RFC 9162 inclusion proof, the checkpoint's Ed25519 signature, the independent
 * witnesses' cosignatures (C2SP cosignature/v1, against the witness keys the page lists) and, where a public
 * JSON-RPC endpoint is configured, the anchor's receipt on chain.
 */
(function () {
  "use strict";
  const enc = new TextEncoder();

  // --- bytes and hashes -------------------------------------------------------------------
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (h) => {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(h)) throw new Error("not hex: " + h);
    return new Uint8Array((h.match(/../g) || []).map((b) => parseInt(b, 16)));
  };
  // Canonical base64 only (padded, no spaces), as the C2SP formats and the Python verifier ask.
  const unb64 = (s) => {
    const raw = /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 ? atob(s) : null;
    if (raw === null || btoa(raw) !== s) throw new Error("not canonical base64: " + s);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // RFC 8785 (JCS): ECMAScript number and string serialisation, keys by UTF-16 code units.
  // What JCS cannot write (a non-finite number, a lone surrogate) is refused, as the portal does.
  const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
  function jcs(v) {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error("no JCS form: " + v);
    if (typeof v === "string" && LONE_SURROGATE.test(v)) throw new Error("no JCS form: a lone surrogate");
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map(jcs).join(",") + "]";
    return "{" + Object.keys(v).sort().map((k) => jcs(k) + ":" + jcs(v[k])).join(",") + "}";
  }

  // RFC 9162 Merkle tree hash (for the proformas hash link) and inclusion proof (§2.1.3.2).
  async function mth(leaves) {
    if (leaves.length === 0) return sha256(new Uint8Array(0));
    if (leaves.length === 1) return leafHash(leaves[0]);
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return nodeHash(await mth(leaves.slice(0, k)), await mth(leaves.slice(k)));
  }
  async function rootFromInclusion(leaf, index, size, proof) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
      throw new Error("leaf index beyond tree size");
    }
    if (leaf.length !== 32 || proof.some((p) => p.length !== 32)) throw new Error("hashes must be 32 bytes");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Error("proof too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }

  // C2SP signed note / tlog-checkpoint with an Ed25519 key "<name>+<id>+<base64(0x01||pub)>".
  function parseNote(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Error("not a signed note");
    return { text: note.slice(0, split + 1), signatures: note.slice(split + 2).split("\n").filter((l) => l) };
  }
  function parseCheckpoint(note) {
    const parsed = parseNote(note);
    const lines = parsed.text.split("\n");
    return { ...parsed, origin: lines[0], size: Number(lines[1]), root: unb64(lines[2]) };
  }
  async function verifyNote(cp, key) {
    // The base64 part may itself contain "+": split at the first two only.
    const k = key.trim(), i1 = k.indexOf("+"), i2 = k.indexOf("+", i1 + 1);
    const name = k.slice(0, i1), id = k.slice(i1 + 1, i2), b64 = k.slice(i2 + 1);
    const raw = unb64(b64);
    if (raw[0] !== 1 || raw.length !== 33) throw new Error("not an Ed25519 key");
    const pub = raw.slice(1);
    const keyId = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
    if (hex(keyId) !== id) throw new Error("key id does not match the key");
    const cryptoKey = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    for (const line of cp.signatures) {
      const m = line.match(/^\u2014 (\S+) (\S+)$/);
      if (!m || m[1] !== name) continue;
      const sig = unb64(m[2]);
      if (!equal(sig.slice(0, 4), keyId)) continue;
      if (await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, sig.slice(4), enc.encode(cp.text))) return name;
      throw new Error("invalid signature by " + name);
    }
    throw new Error("no signature by " + name);
  }

  // C2SP tlog-cosignature cosignature/v1 by independent witnesses (docs/witnesses.md): key
  // "<name>+<id>+<base64(0x04||pub)>", id = SHA-256(name || "\n" || 0x04 || pub)[:4]; a line
  // "— <name> base64(id || u64 time || Ed25519 signature)" signs
  // "cosignature/v1\ntime <time>\n" followed by the checkpoint's text.
  async function cosignerKey(key) {
    const k = key.trim(), i1 = k.indexOf("+"), i2 = k.indexOf("+", i1 + 1);
    if (i1 < 1 || i2 < 0) throw new Error("not a witness key");
    const name = k.slice(0, i1), id = k.slice(i1 + 1, i2), raw = unb64(k.slice(i2 + 1));
    if (raw[0] !== 4 || raw.length !== 33) throw new Error("not a cosignature/v1 key");
    const keyId = (await sha256(concat(enc.encode(name + "\n"), raw))).slice(0, 4);
    if (hex(keyId) !== id) throw new Error("key id does not match the key");
    const cryptoKey = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name, keyId, cryptoKey };
  }
  // The witnesses among ``keys`` with a valid cosignature of checkpoint text ``text`` in
  // ``lines`` ({valid, invalid}: names). Lines by other keys are skipped, as signed-note says;
  // a line by a given key that does not verify makes that witness "invalid" (unless another
  // of its lines verifies).
  async function verifyCosignatures(text, lines, keys) {
    const valid = [], invalid = [];
    for (const key of keys) {
      const w = await cosignerKey(key);
      let ok = false, bad = false;
      for (const line of lines || []) {
        const m = /^\u2014 (\S+) (\S+)$/.exec(line);
        if (!m || m[1] !== w.name) continue;
        let sig;
        try { sig = unb64(m[2]); } catch (e) { continue; }
        if (sig.length !== 76 || !equal(sig.slice(0, 4), w.keyId)) continue;
        const time = new DataView(sig.buffer, sig.byteOffset + 4, 8).getBigUint64(0);
        const message = concat(enc.encode(`cosignature/v1\ntime ${time}\n`), enc.encode(text));
        if (time < 2n ** 63n && await crypto.subtle.verify({ name: "Ed25519" }, w.cryptoKey, sig.slice(12), message)) {
          ok = true;
          break;
        }
        bad = true;
      }
      if (ok) valid.push(w.name); else if (bad) invalid.push(w.name);
    }
    return { valid, invalid };
  }

  // Node (tests/static/*.test.mjs) takes the proof code above; the page below needs a document.
  if (typeof document === "undefined") {
    if (typeof module !== "undefined") {
      module.exports = { hex, unhex, unb64, concat, sha256, leafHash, nodeHash, equal, jcs, mth,
                         rootFromInclusion, parseNote, parseCheckpoint, verifyNote, cosignerKey,
                         verifyCosignatures };
    }
    return;
  }

  // --- the lookup page (/verify): which order is this PDF? -----------------------------------
  if (!document.getElementById("verify-facts")) {
    const lookup = document.getElementById("lookup-facts");
    if (lookup) lookupPage(JSON.parse(lookup.textContent));
    return;
  }
  function lookupPage(facts) {
    const T = JSON.parse(document.getElementById("verify-messages").textContent);
    const fmt = (text, vars) => text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    const out = document.getElementById("pdf-result");
    const day = (value) => {
      try { return new Intl.DateTimeFormat(T.lang, { timeZone: facts.timezone, dateStyle: "medium" }).format(new Date(value)); }
      catch (e) { return String(value); }
    };
    async function check(file) {
      out.className = "pdf-result"; delete out.dataset.result; out.textContent = T.pdf_checking;
      const got = hex(await sha256(new Uint8Array(await file.arrayBuffer())));
      const r = await fetch(facts.documentLookupUrl + got, { headers: { Accept: "application/json" } });
      const doc = r.ok ? ((await r.json()).documents || [])[0] : null;
      out.textContent = "";
      if (doc) {
        out.className = "pdf-result match"; out.dataset.result = "found";
        out.append(fmt(T.pdf_found, { ocid: doc.ocid, n: doc.version, total: doc.versions }) + " ");
        if (!doc.current) out.append(fmt(T.pdf_found_old, { date: day(doc.replacedAt) }) + " ");
        const a = document.createElement("a"); a.href = doc.url; a.textContent = T.pdf_see;
        out.append(a);
      } else {
        out.className = "pdf-result mismatch"; out.dataset.result = "unknown";
        out.textContent = T.pdf_unknown;
      }
      const small = document.createElement("span");
      small.className = "small hash"; small.textContent = `(${T.computed}: ${got})`;
      out.append(" ", small);
    }
    const input = document.getElementById("pdf-file");
    input.addEventListener("change", () => input.files[0] && check(input.files[0]));
  }

  // --- the page -----------------------------------------------------------------------------
  const facts = JSON.parse(document.getElementById("verify-facts").textContent);
  const T = JSON.parse(document.getElementById("verify-messages").textContent);
  const results = {};
  // The SHA-256 the release declares for its order PDF (hash 2), as the server read it.
  const documentHash = facts.documentHash || null;
  // "This phone" only on a phone: the same page is read on desktops too.
  const isPhone = !!(navigator.userAgentData && navigator.userAgentData.mobile)
    || /Android|iPhone|iPod|Mobi/.test(navigator.userAgent);
  const fmt = (text, vars) => text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  // Dates in the reader's language and the portal's time zone (Lima), as the server writes them.
  const dateFormat = (options) => {
    try { return new Intl.DateTimeFormat(T.lang, { timeZone: facts.timezone, ...options }); }
    catch (e) { return new Intl.DateTimeFormat(T.lang, options); }
  };
  const DAY = dateFormat({ dateStyle: "medium" });
  const MOMENT = dateFormat({ dateStyle: "medium", timeStyle: "short" });
  const when = (value, f) => {
    const d = value instanceof Date ? value : new Date(value);
    return Number.isNaN(d.getTime()) ? String(value || "—") : (f || MOMENT).format(d);
  };
  const strip = (h) => String(h || "").toLowerCase().replace(/^0x/, "");

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // who: "device" (recomputed here), "chain" (read from a public node by this device) or
  // "portal" (reported by the portal: a pass shows as "reported", never as a device's ✔).
  // ``link`` is [url, words]: where a reader can check a portal-reported step themselves.
  function show(step, status, detail, who, link) {
    const shown = status === "pass" && who === "portal" ? "reported" : status;
    results[step] = shown;
    const li = document.querySelector(`li[data-step="${step}"]`);
    li.className = shown;
    li.dataset.status = status;
    li.dataset.who = who || "";
    li.querySelector(".mark").setAttribute("aria-label", T[shown === "pass" ? "ok" : shown] || shown);
    li.querySelector(".who").textContent = who === "device" ? T.by_device : who === "chain" ? T.read_chain
      : who === "portal" ? T.by_portal : "";
    const box = li.querySelector(".detail");
    box.textContent = detail || "";
    if (who === "portal" && status !== "fail") {
      const why = el("p", { class: "why" }, link ? T.by_portal_why + " " : T.by_portal_why_plain);
      if (link) why.append(el("a", { href: link[0], rel: "noopener" }, link[1]), ".");
      box.append(why);
    }
  }
  function label(step) {
    return document.querySelector(`li[data-step="${step}"] strong`).textContent.trim();
  }
  function verdict(kind, detail) {
    const box = document.getElementById("verdict");
    box.className = "verdict verdict-" + kind + (box.dataset.status ? " order-" + box.dataset.status : "");
    box.dataset.verdict = kind;
    document.getElementById("verdict-title").textContent = T[kind];
    document.getElementById("verdict-detail").textContent = detail;
  }
  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    return { status: r.status, body: r.status < 500 ? await r.json().catch(() => null) : null };
  }
  async function run(step, fn) {
    try { await fn(); } catch (e) { show(step, "fail", String(e.message || e), "device"); }
  }
  function explorerLink(evm) {
    if (evm.explorerUrl) return evm.explorerUrl;
    if (!facts.explorerTxUrl) return null;
    return fmt(facts.explorerTxUrl, {
      tx_hash: evm.txHash, chain_id: evm.chainId, block_number: evm.blockNumber, contract: evm.contract });
  }
  // The proof that ties an entry to the signed checkpoint: inclusion, then the signature.
  async function proveEntry(bundle) {
    const cp = parseCheckpoint(bundle.checkpoint);
    const root = await rootFromInclusion(unhex(bundle.leafHash), bundle.leafIndex, bundle.treeSize,
                                         bundle.inclusionProof.map(unhex));
    const included = equal(root, cp.root) && cp.size === bundle.treeSize;
    return { cp, root, included };
  }

  async function main() {
    if (!window.crypto || !crypto.subtle) { verdict("mismatch", T.no_webcrypto); return; }
    // Everything is fetched at once: on a slow phone connection each round trip costs most.
    const pdfBytes = facts.pdfPath && documentHash
      ? fetch(facts.pdfPath).then((r) => r.arrayBuffer()).then((a) => new Uint8Array(a)) : null;
    const tsCheck = getJSON(facts.timestampUrl);
    if (pdfBytes) pdfBytes.catch(() => null);  // awaited (and its error shown) below
    tsCheck.catch(() => null);
    const [b, rel] = await Promise.all([getJSON(facts.bundleUrl), getJSON(facts.releaseUrl)]);
    const bundle = b.body;
    const release = rel.body && (rel.body.releases || [])[0];
    if (b.status === 404 || !bundle || !bundle.hashes) {
      for (const s of ["entry", "inclusion", "signature", "chain"]) show(s, "fail", T.not_logged, "device");
    }
    const hashes = (bundle && bundle.hashes) || {};

    await run("data", async () => {
      if (!release) throw new Error("release not available");
      const got = hex(await sha256(enc.encode(jcs(release))));
      const ok = got === hashes.data && got === facts.dataHash;
      show("data", ok ? "pass" : "fail", `${T.computed}: ${got} · ${T.expected}: ${hashes.data || facts.dataHash}`, "device");
    });

    await run("document", async () => {
      if (!facts.pdfPath || !documentHash) { show("document", "skip", "—", ""); return; }
      const pdf = await pdfBytes;
      const got = hex(await sha256(pdf));
      const ok = got === documentHash && (!hashes.document || hashes.document === got);
      show("document", ok ? "pass" : "fail", `${T.computed}: ${got} · ${T.expected}: ${documentHash}`, "device");
    });

    if (!bundle || !bundle.hashes) return finish(null);
    document.getElementById("proformas-hash").textContent = hashes.proformas;
    state.bundle = bundle;

    await run("proformas", async () => {
      const leaves = bundle.proformas.map((p) => unhex(p.hash)).sort((a, c) => {
        for (let i = 0; i < 32; i++) if (a[i] !== c[i]) return a[i] - c[i];
        return 0;
      });
      const got = hex(await mth(leaves));
      show("proformas", got === hashes.proformas ? "pass" : "fail",
           `${bundle.proformas.length} ${T.quotes_linked} · ${got}`, "device");
    });

    const entry = unb64(bundle.entry.base64);
    await run("entry", async () => {
      const obj = { v: 1, kind: "release", ocid: bundle.ocid, releaseId: bundle.releaseId,
                    dataHash: hashes.data, proformasHash: hashes.proformas };
      if (hashes.document) obj.documentHash = hashes.document;
      // An imported release's entry also commits to who published it (its package statement).
      if (hashes.package) obj.packageHash = hashes.package;
      const leaf = await leafHash(entry);
      const ok = equal(enc.encode(jcs(obj)), entry) && hex(leaf) === bundle.leafHash
        && bundle.ocid === facts.ocid && bundle.releaseId === facts.releaseId;
      show("entry", ok ? "pass" : "fail", `${T.leaf} ${bundle.leafIndex}: ${hex(leaf)}`, "device");
    });

    if (bundle.status !== "complete") {
      for (const s of ["inclusion", "signature", "chain", "timestamp"]) show(s, "wait", T.wait, "");
      if (document.querySelector('li[data-step="witnesses"]')) show("witnesses", "wait", T.wait, "");
      return finish(bundle);
    }
    const cp = parseCheckpoint(bundle.checkpoint);

    await run("inclusion", async () => {
      const { root, included } = await proveEntry(bundle);
      show("inclusion", included ? "pass" : "fail",
           `${T.leaf} ${bundle.leafIndex} ${T.of} ${bundle.treeSize} · ${T.root} ${hex(root)}`, "device");
    });

    await run("signature", async () => {
      const name = await verifyNote(cp, bundle.key);
      show("signature", "pass", `${T.signed_by} ${name} (Ed25519)`, "device");
    });

    if (document.querySelector('li[data-step="witnesses"]')) {
      await run("witnesses", async () => {
        const keys = facts.witnesses || [];
        const { valid, invalid } = await verifyCosignatures(cp.text, bundle.cosignatures || [], keys);
        const names = valid.length ? ` (${valid.join(", ")})` : "";
        if (invalid.length) show("witnesses", "fail", `${T.witnesses_invalid} ${invalid.join(", ")}`, "device");
        else if (valid.length >= Math.max(1, facts.witnessesRequired)) {
          state.witnesses = valid.length;
          show("witnesses", "pass", fmt(T.witnesses_confirmed, { n: valid.length }) + names, "device");
        } else {
          show("witnesses", "skip", fmt(T.witnesses_short, { n: valid.length, required: facts.witnessesRequired }) + names, "");
        }
      });
    }

    await run("chain", async () => {
      const evm = bundle.anchors.find((a) => a.type === "evm");
      if (!evm) { show("chain", "skip", "—", ""); return; }
      if (evm.status !== "done") { show("chain", "wait", T.wait, ""); return; }
      let ok = strip(evm.root) === hex(cp.root) && Number(evm.treeSize) === cp.size;
      let who = "portal";
      if (facts.rpcUrl && ok) {
        // The device asks a public node of the chain itself: the portal is not trusted here.
        const r = await fetch(facts.rpcUrl, { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getTransactionReceipt", params: [evm.txHash] }) });
        const receipt = (await r.json()).result;
        ok = !!receipt && receipt.status === "0x1" && Number(receipt.blockNumber) === Number(evm.blockNumber)
          && receipt.logs.some((l) => strip(l.address) === strip(evm.contract) && strip(l.topics[1]) === hex(cp.root));
        who = "chain";
      }
      const at = evm.blockTime ? fmt(T.anchored_on, { date: when(new Date(Number(evm.blockTime) * 1000)) }) : "";
      const explorer = explorerLink(evm);
      show("chain", ok ? "pass" : "fail",
           `${at} (${T.tx} ${evm.txHash}, ${T.block} ${evm.blockNumber})`, who,
           explorer ? [explorer, T.explorer] : null);
      if (who === "chain" && explorerLink(evm)) {
        document.querySelector('li[data-step="chain"] .detail').append(
          " ", el("a", { href: explorerLink(evm), rel: "noopener" }, T.explorer));
      }
    });

    const tsa = bundle.anchors.find((a) => a.type === "rfc3161");
    if (!tsa) show("timestamp", "skip", "—", "");
    else if (tsa.status !== "done") show("timestamp", "wait", T.wait, "");
    else {
      const ts = (await tsCheck).body;
      const cn = /CN=([^,]+)/.exec(tsa.tsa || "");
      const said = fmt(T.timestamp_ok, { tsa: cn ? cn[1] : tsa.tsa || "", date: when(tsa.genTime) });
      if (!ts) show("timestamp", "skip", "—", "portal");
      else if (ts.status === "PASS") {
        // The portal re-checked the kept OCSP response or CRL along with the token.
        const text = tsa.revocation ? `${said} ${T.timestamp_not_revoked}` : said;
        show("timestamp", "pass", text, "portal", [facts.tsaCaUrl, T.tsa_ca]);
      }
      else if (ts.status === "SKIP") show("timestamp", "skip", said, "portal");
      else show("timestamp", "fail", ts.detail, "portal");
    }
    finish(bundle);
  }

  function finish(bundle) {
    const failed = Object.keys(results).find((s) => results[s] === "fail");
    if (failed) { verdict("mismatch", `${T.mismatch_detail} ${label(failed)}`); return; }
    const waiting = Object.values(results).includes("wait") || !bundle;
    if (waiting) {
      verdict("pending", T.pending_detail + (facts.nextSeal ? ` ${T.pending_when} ${when(facts.nextSeal)}.` : ""));
      return;
    }
    const reported = Object.values(results).includes("reported");
    verdict("verified", (isPhone ? T.verified_detail_phone : T.verified_detail_device)
      + (state.witnesses ? " " + fmt(T.witnesses_confirmed, { n: state.witnesses }) + "." : "")
      + (reported ? " " + T.verified_reported : ""));
  }

  // --- "Check the PDF you were given": hashed here, never uploaded ----------------------------
  // Any version of this order is recognised; another order's PDF is named by the portal's
  // lookup, which receives only the hash.
  async function checkFile(file) {
    const out = document.getElementById("pdf-result");
    out.className = "pdf-result"; delete out.dataset.result; out.textContent = T.pdf_checking;
    const got = hex(await sha256(new Uint8Array(await file.arrayBuffer())));
    const history = facts.history || [];
    const i = history.findIndex((v) => v.pdfSha256 === got);
    let result, text, link = null;
    if (i >= 0) {
      const v = history[i], latest = i === history.length - 1;
      result = v.number === facts.version ? "match" : "other-version";
      text = latest ? (history.length > 1 ? fmt(T.pdf_match_other_version, { n: v.number }) + " " : "") + T.pdf_match_current
        : fmt(T.pdf_match_old, { n: v.number, date: when(history[i + 1].date, DAY) });
      if (v.number !== facts.version) link = v.url;
    } else {
      const found = await getJSON(facts.documentLookupUrl + got);
      const doc = found.body && found.body.documents && found.body.documents[0];
      if (doc) {
        result = "other-order";
        text = fmt(T.pdf_other_order, { ocid: doc.ocid, n: doc.version });
        link = doc.url;
      } else {
        result = "unknown";
        text = T.pdf_unknown;
      }
    }
    out.className = "pdf-result " + (result === "unknown" ? "mismatch" : result === "match" ? "match" : "other");
    out.dataset.result = result;
    out.textContent = text + " ";
    if (link) out.append(el("a", { href: link }, T.pdf_see), " ");
    out.append(el("span", { class: "small hash" }, `(${T.computed}: ${got})`));
  }
  const input = document.getElementById("pdf-file");
  const zone = document.getElementById("pdf-drop");
  input.addEventListener("change", () => input.files[0] && checkFile(input.files[0]));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files[0]) checkFile(e.dataTransfer.files[0]);
  });

  // --- each quote on its own: its entry, its inclusion and the checkpoint's signature ------
  const state = { bundle: null, witnesses: 0 };
  async function checkQuote(button) {
    const li = button.closest("li[data-quote]");
    const out = li.querySelector(".quote-result");
    const say = (kind, text) => { out.dataset.result = kind; out.className = "quote-result small " + kind; out.textContent = text; };
    try {
      const r = await getJSON(button.dataset.proof);
      const q = r.body;
      if (!q || !q.entry) { say("fail", T.quote_fail); return; }
      const obj = { v: 1, kind: "proforma", ocid: facts.ocid, proformaId: li.dataset.quote,
                    proformaHash: button.dataset.hash };
      const entry = unb64(q.entry.base64);
      let ok = q.entry.kind === "proforma" && q.hashes.proforma === button.dataset.hash
        && equal(enc.encode(jcs(obj)), entry) && hex(await leafHash(entry)) === q.leafHash;
      if (ok && q.status !== "complete") { say("wait", T.quote_pending); return; }
      if (ok) {
        const { cp, included } = await proveEntry(q);
        ok = included && !!(await verifyNote(cp, q.key));
      }
      const linked = !state.bundle || state.bundle.proformas.some((p) => p.id === li.dataset.quote && p.hash === button.dataset.hash);
      if (!ok) say("fail", T.quote_fail);
      else say("pass", fmt(T.quote_ok, { i: q.leafIndex }) + (linked ? "" : " " + T.quote_not_linked));
    } catch (e) {
      say("fail", `${T.quote_fail} (${e.message || e})`);
    }
  }
  for (const b of document.querySelectorAll("button.check-quote")) b.addEventListener("click", () => checkQuote(b));

  // --- copy buttons (no inline scripts: the CSP allows only this file) ----------------------
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", async () => {
      const text = b.dataset.copy || (document.getElementById(b.dataset.copyFrom) || {}).textContent || "";
      try { await navigator.clipboard.writeText(text.trim()); b.textContent = T.copied; }
      catch (e) {
        const range = document.createRange();
        range.selectNodeContents(b.previousElementSibling);
        getSelection().removeAllRanges(); getSelection().addRange(range);
      }
      setTimeout(() => { b.textContent = T.copy; }, 1500);
    });
  }

  main().catch((e) => verdict("mismatch", String(e.message || e)));
})();
