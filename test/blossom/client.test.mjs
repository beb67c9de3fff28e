// A maintained Blossom client library (blossom-client-sdk) against cairn:
// upload an image and a video to node A, list them, download (whole and
// with Range), mirror the video to node B, delete from A. Run by
// TestBlossomClientLibrary (test/blossom_test.go), which starts the nodes
// and makes the media; the environment names them:
//   CAIRN_A, CAIRN_B   the nodes' HTTP base URLs (both --blossom-upload everyone;
//                      B --blossom-mirror-local, since A is on loopback)
//   CAIRN_IMAGE        a PNG file, CAIRN_VIDEO an MP4 file
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { Actions, createUploadAuth, createDeleteAuth, createMirrorAuth, createListAuth } from "blossom-client-sdk";
import { generateSecretKey, getPublicKey, finalizeEvent } from "nostr-tools/pure";

const A = process.env.CAIRN_A;
const B = process.env.CAIRN_B;
const sk = generateSecretKey();
const pubkey = getPublicKey(sk);
const signer = async (draft) => finalizeEvent(draft, sk);

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const image = readFileSync(process.env.CAIRN_IMAGE);
const video = readFileSync(process.env.CAIRN_VIDEO);
const uploaded = {};

async function upload(bytes, type) {
  const blob = new Blob([bytes], { type });
  return Actions.uploadBlob(A, blob, { onAuth: (server, hash) => createUploadAuth(signer, hash) });
}

test("upload an image and a video", async () => {
  for (const [name, bytes, type, ext] of [["image", image, "image/png", ".png"], ["video", video, "video/mp4", ".mp4"]]) {
    const d = await upload(bytes, type);
    assert.equal(d.sha256, sha256(bytes), `${name}: descriptor sha256`);
    assert.equal(d.size, bytes.length, `${name}: descriptor size`);
    assert.equal(d.type, type, `${name}: descriptor type`);
    assert.ok(d.url.endsWith("/" + d.sha256 + ext), `${name}: url ${d.url}`);
    assert.ok(Number.isInteger(d.uploaded) && d.uploaded > 0, `${name}: uploaded`);
    const x = d.nip94?.find((t) => t[0] === "x");
    assert.equal(x?.[1], d.sha256, `${name}: nip94 x tag (BUD-08)`);
    uploaded[name] = d;
  }
  // The same blob again: the library gets the same descriptor (200).
  const again = await upload(image, "image/png");
  assert.equal(again.sha256, uploaded.image.sha256);
});

test("list the uploads", async () => {
  const list = await Actions.listBlobs(A, pubkey, { onAuth: () => createListAuth(signer) });
  assert.deepEqual(new Set(list.map((d) => d.sha256)), new Set([uploaded.image.sha256, uploaded.video.sha256]));
  assert.ok(list[0].uploaded >= list[1].uploaded, "newest first");
  const none = await Actions.listBlobs(A, pubkey, { since: Math.floor(Date.now() / 1000) + 3600 });
  assert.equal(none.length, 0);
});

test("download whole and with Range", async () => {
  assert.equal(await Actions.hasBlob(A, uploaded.video.sha256), true);
  const res = await Actions.downloadBlob(A, uploaded.image.sha256);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), image);
  const from = 1000, to = Math.min(video.length - 1, 250_000);
  const part = await fetch(uploaded.video.url, { headers: { Range: `bytes=${from}-${to}` } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes ${from}-${to}/${video.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), video.subarray(from, to + 1));
});

test("mirror the video from A to B", async () => {
  const d = await Actions.mirrorBlob(B, uploaded.video, { onAuth: (server, hash) => createMirrorAuth(signer, hash) });
  assert.equal(d.sha256, uploaded.video.sha256);
  assert.ok(d.url.startsWith(B), `B's descriptor names B: ${d.url}`);
  const res = await Actions.downloadBlob(B, d.sha256);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), video);
  const listB = await Actions.listBlobs(B, pubkey);
  assert.deepEqual(listB.map((x) => x.sha256), [d.sha256]);
});

test("delete from A", async () => {
  for (const d of [uploaded.image, uploaded.video]) {
    await Actions.deleteBlob(A, d.sha256, { onAuth: (server, hash) => createDeleteAuth(signer, hash) });
    assert.equal(await Actions.hasBlob(A, d.sha256), false, `${d.sha256} still on A`);
  }
  assert.deepEqual(await Actions.listBlobs(A, pubkey), []);
  // B's mirror is B's: still there.
  assert.equal(await Actions.hasBlob(B, uploaded.video.sha256), true);
  // Deleting again is refused with the library's error and the server's reason.
  await assert.rejects(
    Actions.deleteBlob(A, uploaded.image.sha256, { onAuth: (server, hash) => createDeleteAuth(signer, hash) }),
    (e) => e.status === 404 && e.message.includes("not one this pubkey uploaded"),
  );
});
