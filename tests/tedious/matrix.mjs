// Drives sqlsim with tedious, a TDS client written in JavaScript that
// sqlvault did not write, and prints what it observed as one JSON object
// for tedious_test.go to judge. It asserts nothing itself.
//
// Environment (set by tedious_test.go):
//   TEDIOUS_PORT      sqlsim's TDS port on 127.0.0.1
//   TEDIOUS_PASSWORD  sa's password
//   TEDIOUS_CASES     JSON list of {name, tdsVersion, encrypt, batches:
//                     [{sql, params:[{name, type, value, options}], cancelAfterMs}
//                      | {tm: "begin" | "save" | "rollback" | "commit", tmName}],
//                     tran: "rollback" | "commit" (around the batches)}
//                     (a tm step is a transaction manager request)
import tedious from "tedious";

const { Connection, Request, TYPES } = tedious;
const port = Number(process.env.TEDIOUS_PORT);
const password = process.env.TEDIOUS_PASSWORD;
const cases = JSON.parse(process.env.TEDIOUS_CASES || "[]");

function connect(c, events) {
  const conn = new Connection({
    server: "127.0.0.1",
    authentication: { type: "default", options: { userName: "sa", password } },
    options: {
      port,
      encrypt: c.encrypt,
      // Strict (TDS 8.0) always verifies: NODE_EXTRA_CA_CERTS holds
      // sqlsim's certificate, issued to localhost.
      trustServerCertificate: c.encrypt !== "strict",
      serverName: "localhost",
      tdsVersion: c.tdsVersion,
      useUTC: true,
      connectTimeout: 15000,
      requestTimeout: 15000,
    },
  });
  conn.on("infoMessage", (m) => events.push({ info: pick(m) }));
  conn.on("errorMessage", (m) => events.push({ error: pick(m) }));
  return new Promise((resolve, reject) =>
    conn.connect((err) => (err ? reject(err) : resolve(conn))),
  );
}

const pick = (m) => ({ number: m.number, state: m.state, class: m.class, message: m.message, lineNumber: m.lineNumber });

function render(v) {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return "0x" + v.toString("hex");
  return String(v);
}

function run(conn, b, events, cancelAfterMs) {
  return new Promise((resolve) => {
    const req = new Request(b.sql, (err, rowCount) => {
      events.push({ done: { error: err ? String(err.code || err.message) : null, number: err && err.number, rowCount } });
      resolve();
    });
    for (const p of b.params || []) {
      req.addParameter(p.name, TYPES[p.type], (p.type.startsWith("Date") || p.type === "Time") && p.value ? new Date(p.value) : p.value, p.options);
    }
    req.on("columnMetadata", (cols) =>
      events.push({ columns: cols.map((c) => ({ name: c.colName, type: c.type.name, precision: c.precision, scale: c.scale, length: c.dataLength })) }),
    );
    req.on("row", (cols) => events.push({ row: cols.map((c) => render(c.value)) }));
    if (b.params && b.params.length) conn.execSql(req);
    else conn.execSqlBatch(req);
    if (cancelAfterMs) setTimeout(() => conn.cancel(), cancelAfterMs);
  });
}

function tran(conn, verb, name) {
  return new Promise((resolve) => {
    const cb = (err) => resolve(err ? String(err.message) : null);
    if (verb === "begin") conn.beginTransaction(cb, name);
    else if (verb === "commit") conn.commitTransaction(cb, name);
    else if (verb === "save") conn.saveTransaction(cb, name);
    else conn.rollbackTransaction(cb, name);
  });
}

const results = {};
for (const c of cases) {
  const events = [];
  try {
    const conn = await connect(c, events);
    if (c.tran) events.push({ tran: await tran(conn, "begin") });
    for (const [i, b] of c.batches.entries()) {
      if (c.tran && i === c.batches.length - 1) events.push({ tran: await tran(conn, c.tran) });
      if (b.tm) events.push({ tran: await tran(conn, b.tm, b.tmName) });
      else await run(conn, b, events, b.cancelAfterMs);
    }
    conn.close();
  } catch (err) {
    events.push({ failed: String(err.message || err) });
  }
  results[c.name] = events;
}
console.log(JSON.stringify(results));
