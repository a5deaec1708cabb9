// Drives the sqlvault device with Microsoft's JavaScript Azure Blob client
// (@azure/storage-blob), a client sqlvault did not write: stage blocks,
// commit them, read a range back, then check that the committed blob can
// be neither committed again nor deleted (write-once recovery points).
//
// Environment (set by azsdk_test.go):
//   AZSDK_BLOB_URL     the blob's URL with the grant's SAS query
//   AZSDK_DEVICE_HOST  the device's DNS name and AZSDK_DEVICE_IP its
//                      address (the test network has no DNS for it)
//   NODE_EXTRA_CA_CERTS the device CA, so TLS verification stays on
// Prints one JSON line with what it observed; exits 1 on any mismatch.
import dns from "node:dns";
import { BlockBlobClient } from "@azure/storage-blob";

const url = process.env.AZSDK_BLOB_URL;
const host = process.env.AZSDK_DEVICE_HOST;
const ip = process.env.AZSDK_DEVICE_IP;
if (!url || !host || !ip) {
  console.error("AZSDK_BLOB_URL, AZSDK_DEVICE_HOST and AZSDK_DEVICE_IP are required");
  process.exit(2);
}

// Resolve the device's name as the hosts file of a SQL Server host would.
const lookup = dns.lookup;
dns.lookup = (name, opts, cb) => {
  if (typeof opts === "function") [cb, opts] = [opts, {}];
  if (name !== host) return lookup(name, opts, cb);
  if (opts && opts.all) return process.nextTick(cb, null, [{ address: ip, family: 4 }]);
  return process.nextTick(cb, null, ip, 4);
};

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

// refused runs op and returns the Azure error it got, failing if it
// succeeded.
async function refused(what, op) {
  try {
    await op();
  } catch (e) {
    return { what, status: e.statusCode, code: e.code };
  }
  fail(`${what} of the committed blob succeeded; want it refused`);
}

const blob = new BlockBlobClient(url, undefined, { retryOptions: { maxTries: 1 } });

// Three blocks, the last one short; content that differs per offset.
const sizes = [1 << 20, 1 << 20, 1000];
const total = sizes.reduce((a, b) => a + b, 0);
const data = Buffer.alloc(total);
for (let i = 0; i < total; i++) data[i] = (i * 31 + (i >> 11)) & 0xff;
const ids = sizes.map((_, i) => Buffer.from(`block-${String(i).padStart(6, "0")}`).toString("base64"));

let off = 0;
for (let i = 0; i < sizes.length; i++) {
  await blob.stageBlock(ids[i], data.subarray(off, off + sizes[i]), sizes[i]);
  off += sizes[i];
}
const commit = await blob.commitBlockList(ids);

const props = await blob.getProperties();
if (props.contentLength !== total) fail(`contentLength = ${props.contentLength}, want ${total}`);
if (props.etag !== commit.etag) fail(`ETag ${props.etag} after commit ${commit.etag}`);

// A range across the first block boundary.
const start = (1 << 20) - 500, count = 1200;
const dl = await blob.download(start, count);
const chunks = [];
for await (const c of dl.readableStreamBody) chunks.push(c);
const got = Buffer.concat(chunks);
if (!got.equals(data.subarray(start, start + count))) fail(`ranged download of ${count} bytes at ${start}: ${got.length} bytes that differ`);
const list = await blob.getBlockList("committed");
if (list.committedBlocks.map((b) => b.name).join() !== ids.join()) fail(`committed blocks ${JSON.stringify(list.committedBlocks)}`);

const again = await refused("second commitBlockList", () => blob.commitBlockList(ids));
const del = await refused("delete", () => blob.delete());
const after = await blob.getProperties();
if (after.contentLength !== total || after.etag !== commit.etag) fail("the committed blob changed after the refused writes");

console.log(JSON.stringify({ size: total, etag: commit.etag, range: [start, count], refused: [again, del] }));
