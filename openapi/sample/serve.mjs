// The sample page's static server (node's http module only):
//   SAMPLE_PORT  -> http://localhost:SAMPLE_PORT/: index.html, dist/app.js and
//                   config.json (AUTHD_URL), the page's own origin;
//   HOSTILE_PORT -> http://127.0.0.1:HOSTILE_PORT/ (another site) and
//                   http://localhost:HOSTILE_PORT/ (same site, an origin authd
//                   does not list): a plain HTML form posting to token/refresh.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const authdUrl = process.env.AUTHD_URL;
const samplePort = Number(process.env.SAMPLE_PORT);
const hostilePort = Number(process.env.HOSTILE_PORT);
if (!authdUrl || !samplePort || !hostilePort) throw new Error("serve.mjs needs AUTHD_URL, SAMPLE_PORT, HOSTILE_PORT");

const files = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/dist/app.js": ["dist/app.js", "text/javascript; charset=utf-8"],
};

function send(res, status, type, body) {
  res.writeHead(status, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
}

createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  if (path === "/config.json") return send(res, 200, "application/json", JSON.stringify({ authdUrl }));
  const file = files[path];
  if (!file) return send(res, 404, "text/plain", "not found");
  send(res, 200, file[1], await readFile(join(here, file[0])));
}).listen(samplePort, "127.0.0.1", () => console.log(`sample page on http://localhost:${samplePort}/`));

const hostile = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>another site</title></head>
<body>
  <h1>another site</h1>
  <!-- No fields: an empty body, which authd reads as "use the cookie". -->
  <form id="steal" method="post" enctype="text/plain" action="${authdUrl}/api/v1/auth/token/refresh/">
    <button type="submit">win a prize</button>
  </form>
</body></html>`;
createServer((_req, res) => send(res, 200, "text/html; charset=utf-8", hostile)).listen(hostilePort, "127.0.0.1", () =>
  console.log(`hostile page on http://127.0.0.1:${hostilePort}/`),
);
