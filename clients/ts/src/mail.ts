// Reads the newest `.eml` written to an address (the server runs without
// AUTH_SMTP_URL and with AUTH_OUTBOX_DIR) and extracts the token of its link.
//
// The mail is read as MIME, not as raw text: the recipient is the unfolded
// `To:` header, and every text part is decoded by its own
// Content-Transfer-Encoding (7bit/8bit as is, quoted-printable, base64) and
// charset (UTF-8), HTML parts also by their character references. Decoding
// the raw file as one quoted-printable text would corrupt a 7bit part: a
// link `…?token=AB…` (a token starting with two of 0-9A-F, 1 in 16) turned
// into `…?token` and the byte 0xAB, and no link was found.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** Headers (names lower-cased, folded lines joined) and the body, as bytes in a latin1 string. */
function entity(raw: string): { headers: Map<string, string>; body: string } {
  const end = /\r?\n\r?\n/.exec(raw);
  const head = end ? raw.slice(0, end.index) : raw;
  const body = end ? raw.slice(end.index + end[0].length) : "";
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** A header's parameter (`boundary`, `charset`), quoted or not. */
function parameter(header: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(header);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** The body's bytes as its Content-Transfer-Encoding says. */
function decoded(body: string, encoding: string): Buffer {
  switch (encoding.toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
    case "quoted-printable":
      return Buffer.from(
        body
          .replace(/[ \t]+(?=\r?\n)/g, "")
          .replace(/=\r?\n/g, "")
          .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        "latin1",
      );
    default: // 7bit, 8bit, binary
      return Buffer.from(body, "latin1");
  }
}

/** `&#x2f;`, `&#47;`, `&amp;` …: what a link in an HTML part looks like once read. */
function unescapeHtml(html: string): string {
  const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return html.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] !== "#") return named[ref.toLowerCase()] ?? whole;
    const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** Every text part of an entity (multipart walked), decoded to a string. */
function texts(raw: string): string[] {
  const { headers, body } = entity(raw);
  const type = headers.get("content-type") ?? "text/plain";
  const mediaType = type.split(";")[0]!.trim().toLowerCase();
  if (mediaType.startsWith("multipart/")) {
    const boundary = parameter(type, "boundary");
    if (!boundary) return [];
    const delimiter = `--${boundary}`;
    const lines = body.split(/\r?\n/);
    const parts: string[][] = [];
    let current: string[] | null = null;
    for (const line of lines) {
      if (line.startsWith(delimiter)) {
        if (current) parts.push(current);
        if (line.slice(delimiter.length).startsWith("--")) break;
        current = [];
      } else if (current) {
        current.push(line);
      }
    }
    return parts.flatMap((part) => texts(part.join("\r\n")));
  }
  if (!mediaType.startsWith("text/")) return [];
  const charset = (parameter(type, "charset") ?? "utf-8").toLowerCase();
  const bytes = decoded(body, headers.get("content-transfer-encoding") ?? "7bit");
  const text = bytes.toString(charset === "iso-8859-1" || charset === "latin1" ? "latin1" : "utf8");
  return mediaType === "text/html" ? [unescapeHtml(text)] : [text];
}

/** The addresses of the `To:` header (`a@x`, `Name <a@x>`, lists), lower-cased. */
function recipients(raw: string): string[] {
  const to = entity(raw).headers.get("to") ?? "";
  return to
    .split(",")
    .map((one) => (/<([^>]*)>/.exec(one)?.[1] ?? one).trim().toLowerCase())
    .filter(Boolean);
}

interface Mail {
  name: string;
  mtime: number;
  to: string[];
  texts: string[];
}

async function mails(dir: string): Promise<Mail[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".eml"));
  const read = await Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      try {
        const raw = (await readFile(file)).toString("latin1");
        return { name, mtime: (await stat(file)).mtimeMs, to: recipients(raw), texts: texts(raw) };
      } catch {
        return null; // gone since the listing (retention): not a mail to read
      }
    }),
  );
  return read.filter((m): m is Mail => m !== null);
}

/** Waits (up to 15 s) for a mail to `address` whose link has `path?token=`; the newest one's token. */
export async function tokenFromMail(dir: string, address: string, path: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  const link = new RegExp(`/${path}\\?token=([A-Za-z0-9_\\-.~%]+)`);
  const wanted = address.toLowerCase();
  for (;;) {
    const all = await mails(dir);
    const found = all
      .filter((m) => m.to.includes(wanted))
      .map((m) => ({ m, token: m.texts.map((t) => link.exec(t)?.[1]).find(Boolean) }))
      .filter((f) => f.token)
      .sort((a, b) => b.m.mtime - a.m.mtime || b.m.name.localeCompare(a.m.name))[0];
    if (found?.token) return decodeURIComponent(found.token);
    if (Date.now() >= deadline) {
      // What is there instead: every mail's file name (address and kind).
      const toAddress = all.filter((m) => m.to.includes(wanted)).map((m) => m.name);
      throw new Error(
        `no mail with a ${path} link for ${address} in ${dir}` +
          (toAddress.length ? ` (mails to it without one: ${toAddress.join(", ")})` : "") +
          `; it holds: ${all.map((m) => m.name).join(", ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
