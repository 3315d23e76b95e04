// Reads the newest `.eml` written for an address (the server runs without
// AUTH_SMTP_URL and with AUTH_OUTBOX_DIR) and extracts the token of its link.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** Undoes quoted-printable: soft line breaks and `=XX` escapes. */
function unquote(body: string): string {
  return body
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Waits (up to 15 s) for a mail to `address` whose link has `path?token=`. */
export async function tokenFromMail(dir: string, address: string, path: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  const link = new RegExp(`/${path}\\?token=([A-Za-z0-9_\\-.~%]+)`);
  while (Date.now() < deadline) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".eml"));
    const mails = await Promise.all(
      names.map(async (n) => {
        const file = join(dir, n);
        return { text: await readFile(file, "utf8"), mtime: (await stat(file)).mtimeMs };
      }),
    );
    const newest = mails
      .filter((m) => m.text.includes(address))
      .sort((a, b) => b.mtime - a.mtime)[0];
    const token = newest && unquote(newest.text).match(link)?.[1];
    if (token) return decodeURIComponent(token);
    await new Promise((r) => setTimeout(r, 200));
  }
  // What is there instead: every mail's file name (address and kind).
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".eml"));
  throw new Error(`no mail with a ${path} link for ${address} in ${dir}; it holds: ${names.join(", ")}`);
}
