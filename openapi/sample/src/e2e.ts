// The sample page in Debian's Chromium (playwright-core, headless) against a
// live authd: AUTHD_URL (http://localhost:A), AUTHD_OUTBOX_DIR (its .eml
// mails), SAMPLE_URL (the page, http://localhost:B), HOSTILE_URL (a page on
// another site, http://127.0.0.1:C) and SAME_SITE_URL (the same page from an
// origin of the same site that authd does not list, http://localhost:C),
// OIDC_ISSUER (the tests' OpenID provider, configured in authd as `test`,
// http://127.0.0.1:D) and OIDC_LOGIN / OIDC_EMAIL (an account there).
// Bundled by esbuild into dist/e2e.mjs.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { chromium, type BrowserContext, type Page } from "playwright-core";

import { tokenFromMail } from "../../../clients/ts/src/mail.js";

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const authdUrl = env("AUTHD_URL");
const outbox = env("AUTHD_OUTBOX_DIR");
const sampleUrl = env("SAMPLE_URL");
const hostileUrl = env("HOSTILE_URL");
const sameSiteUrl = env("SAME_SITE_URL");
const oidcIssuer = env("OIDC_ISSUER");
const oidcLogin = env("OIDC_LOGIN");
const oidcEmail = env("OIDC_EMAIL");
const cookieName = "__Host-authd_refresh";

const t0 = Date.now();
function step(name: string) {
  console.log(`browser: [${((Date.now() - t0) / 1000).toFixed(1)}s] ${name}`);
}

/** Clicks (or submits) and returns the status line the action wrote. */
async function act(page: Page, click: () => Promise<void>): Promise<string> {
  const status = page.locator("#status");
  const before = Number(await status.getAttribute("data-seq"));
  await click();
  await page.waitForFunction(
    (n) => Number(document.querySelector("#status")?.getAttribute("data-seq")) > n,
    before,
    { timeout: 15_000 },
  );
  const text = (await status.textContent()) ?? "";
  console.log(`  page says: ${text}`);
  return text;
}
const button = (page: Page, id: string) => () => page.click(`#${id}`);
const submit = (page: Page, form: string) => () => page.click(`#${form} button[type=submit]`);

async function refreshCookie(context: BrowserContext) {
  return (await context.cookies(authdUrl)).find((c) => c.name === cookieName);
}

async function openPage(page: Page) {
  await page.goto(sampleUrl);
  await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("ready:"));
}

/** The access token in the next refresh answer the page gets (read off the network). */
function nextRefreshToken(page: Page): Promise<string> {
  return page
    .waitForResponse((r) => r.url().endsWith("/api/v1/auth/token/refresh/") && r.request().method() === "POST")
    .then(async (r) => ((await r.json()) as { data: { token: string } }).data.token);
}

/**
 * "Sign in with the test provider": the page goes to authd, which redirects to
 * the provider's own login page (oidc-provider's devInteractions: any password);
 * its form signs `login` in, consent is implied, and the browser comes back
 * through authd's callback to the page with `code=` or `error=`. Returns the
 * status line the page writes for it.
 */
async function signInAtProvider(page: Page, login: string): Promise<string> {
  await page.click("#oidc");
  await page.waitForURL((url) => url.href.startsWith(`${oidcIssuer}/`), { timeout: 15_000 });
  console.log(`  the provider's login page: ${new URL(page.url()).pathname} "${await page.title()}"`);
  await page.fill("input[name=login]", login);
  await page.fill("input[name=password]", "any password will do");
  await page.click("button[type=submit]");
  await page.waitForURL((url) => url.href.startsWith(`${sampleUrl}/`), { timeout: 15_000 });
  await page.waitForFunction(() => document.querySelector("#status")?.textContent?.includes("] oidc: "), null, {
    timeout: 15_000,
  });
  const text = (await page.locator("#status").textContent()) ?? "";
  console.log(`  page says: ${text}`);
  const left = new URL(page.url());
  assert.equal(left.searchParams.has("code") || left.searchParams.has("error"), false, `left in the URL: ${left}`);
  return text;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
// The provider's login page @imports a Google font: nothing leaves this machine.
const offline = (context: BrowserContext) => context.route(/^https:\/\/fonts\.googleapis\.com\//, (r) => r.abort());
try {
  const context = await browser.newContext();
  await offline(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`  console: ${m.text()}`);
  });

  const email = `browser-${randomUUID()}@example.com`;
  const password = "Browser-Sample-42x";

  step(`open the page ${sampleUrl}`);
  await openPage(page);

  step("register");
  await page.fill("#register [name=email]", email);
  await page.fill("#register [name=password]", password);
  await page.fill("#register [name=first_name]", "Ada");
  await page.fill("#register [name=last_name]", "Lovelace");
  assert.match(await act(page, submit(page, "register")), /register: 201 /);

  step("read the verification mail, verify through the page");
  const verification = await tokenFromMail(outbox, email, "verify-email");
  await page.fill("#verify-email [name=token]", verification);
  assert.match(await act(page, submit(page, "verify-email")), /verify-email: 200 /);

  step("login: the refresh token comes back as an HttpOnly cookie");
  await page.fill("#login [name=email]", email);
  await page.fill("#login [name=password]", password);
  assert.match(await act(page, submit(page, "login")), /login: 200 .* as browser-/);
  const first = await refreshCookie(context);
  assert.ok(first, `no ${cookieName} cookie after login`);
  assert.equal(first.httpOnly, true);
  assert.equal(first.secure, true);
  assert.equal(first.sameSite, "Strict");
  assert.equal(first.path, "/");
  assert.equal(await page.evaluate(() => document.cookie.includes("authd")), false);

  step("verify-token");
  assert.match(await act(page, button(page, "verify-token")), /verify-token: 200 valid for browser-/);

  step("reload: the access token is gone from memory");
  await openPage(page);
  assert.match(await act(page, button(page, "verify-token")), /no access token in memory/);

  step("refresh through the cookie: a new access token, verify-token works again");
  let fresh = nextRefreshToken(page);
  assert.match(await act(page, button(page, "refresh")), /refresh: 200 /);
  await fresh;
  const second = await refreshCookie(context);
  assert.ok(second && second.value !== first.value, "the refresh cookie was not rotated");
  assert.match(await act(page, button(page, "verify-token")), /verify-token: 200 /);

  // A plain HTML form with no fields (an empty body: "use the cookie"), posted
  // first from another site (SameSite=Strict: the browser withholds the
  // cookie), then from a same-site origin that is not in AUTH_CORS_ORIGINS
  // (the cookie goes along; authd refuses the Origin and the missing header).
  for (const [origin, expected] of [
    [hostileUrl, 401],
    [sameSiteUrl, 403],
  ] as const) {
    step(`a form on ${origin} posts to token/refresh: ${expected}, no tokens, the cookie unspent`);
    const hostile = await context.newPage();
    await hostile.goto(origin);
    const [answer] = await Promise.all([hostile.waitForNavigation(), hostile.click("#steal button")]);
    assert.ok(answer, "the form post did not navigate");
    const body = (await hostile.locator("body").textContent()) ?? "";
    console.log(`  authd answered the form post: ${answer.status()} ${body.trim().slice(0, 160)}`);
    assert.equal(answer.status(), expected);
    assert.doesNotMatch(body, /refresh_token|"token"/);
    const after = await refreshCookie(context);
    assert.equal(after?.value, second.value, "the form post changed the refresh cookie");
    await hostile.close();
  }

  step("the cookie was not spent: a refresh from the page still succeeds");
  fresh = nextRefreshToken(page);
  assert.match(await act(page, button(page, "refresh")), /refresh: 200 /);
  const oldAccess = await fresh;
  assert.match(await act(page, button(page, "verify-token")), /verify-token: 200 /);

  step("logout: the cookie is cleared, and its refresh token is revoked");
  const last = await refreshCookie(context);
  assert.ok(last);
  assert.match(await act(page, button(page, "logout")), /logout: 200 /);
  assert.equal(await refreshCookie(context), undefined, "the refresh cookie survived logout");
  {
    const response = await fetch(`${authdUrl}/api/v1/auth/token/refresh/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: last.value }),
    });
    assert.equal(response.status, 401, "the cookie's refresh token still works after logout");
  }

  step("refresh after logout: 401");
  assert.match(await act(page, button(page, "refresh")), /refresh: 401 /);

  step("verify-token with the access token from before the logout: 401");
  {
    const status = await page.evaluate(
      async ([url, token]) =>
        (await fetch(`${url}/api/v1/auth/verify-token/`, { headers: { Authorization: `Bearer ${token}` } })).status,
      [authdUrl, oldAccess] as const,
    );
    assert.equal(status, 401);
    console.log(`  page's fetch with the old token: ${status}`);
  }

  step("passkey: register one in Chromium's virtual authenticator (WebAuthn over DevTools)");
  {
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const login = await fetch(`${authdUrl}/api/v1/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    assert.equal(login.status, 200);
    const access = ((await login.json()) as { data: { token: string } }).data.token;
    // In the page (its origin is AUTH_PUBLIC_URL): the options go through
    // PublicKeyCredential.parseCreationOptionsFromJSON as authd sends them,
    // and the credential back as its toJSON().
    type Pkc = {
      parseCreationOptionsFromJSON(o: unknown): PublicKeyCredentialCreationOptions;
      parseRequestOptionsFromJSON(o: unknown): PublicKeyCredentialRequestOptions;
    };
    const registered = await page.evaluate(
      async ([url, token, pw]) => {
        const pkc = PublicKeyCredential as unknown as Pkc;
        const post = (path: string, body: unknown, bearer?: string) =>
          fetch(`${url}${path}`, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
            },
            body: JSON.stringify(body),
          }).then(async (r) => ({ status: r.status, body: await r.json() }));
        const start = await post("/api/v1/passkeys/register/start/", { password: pw }, token);
        if (start.status !== 200) return { start: start.status, finish: 0, name: "" };
        const cred = (await navigator.credentials.create({
          publicKey: pkc.parseCreationOptionsFromJSON(start.body.data.public_key),
        })) as PublicKeyCredential & { toJSON(): unknown };
        const finish = await post(
          "/api/v1/passkeys/register/finish/",
          { challenge_id: start.body.data.challenge_id, name: "Chromium", credential: cred.toJSON() },
          token,
        );
        return { start: start.status, finish: finish.status, name: finish.body.data?.name ?? "" };
      },
      [authdUrl, access, password] as const,
    );
    console.log(`  register/start ${registered.start}, register/finish ${registered.finish}`);
    assert.deepEqual(registered, { start: 200, finish: 201, name: "Chromium" });
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1);

    step("passkey: log in with it, by address and then discoverable (no address)");
    for (const who of [email, null]) {
      const answer = await page.evaluate(
        async ([url, address]) => {
          const pkc = PublicKeyCredential as unknown as Pkc;
          const post = (path: string, body: unknown) =>
            fetch(`${url}${path}`, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify(body),
            }).then(async (r) => ({ status: r.status, body: await r.json() }));
          const start = await post("/api/v1/auth/passkey/start/", { email: address });
          const assertion = (await navigator.credentials.get({
            publicKey: pkc.parseRequestOptionsFromJSON(start.body.data.public_key),
          })) as PublicKeyCredential & { toJSON(): unknown };
          const finish = await post("/api/v1/auth/passkey/finish/", {
            challenge_id: start.body.data.challenge_id,
            credential: assertion.toJSON(),
          });
          return { status: finish.status, email: finish.body.data?.user?.email ?? "" };
        },
        [authdUrl, who] as const,
      );
      console.log(`  passkey login (${who ? "by address" : "discoverable"}): ${answer.status}`);
      assert.deepEqual(answer, { status: 200, email });
    }
    const [used] = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    assert.ok(used && used.signCount >= 2, `sign count ${used?.signCount}`);
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  }

  step("log in again through the page, edit the profile");
  await page.fill("#login [name=email]", email);
  await page.fill("#login [name=password]", password);
  assert.match(await act(page, submit(page, "login")), /login: 200 /);
  await page.fill("#profile [name=first_name]", "Grace");
  await page.fill("#profile [name=company_name]", "Navy");
  assert.match(await act(page, submit(page, "profile")), /profile: 200 .*: Grace Lovelace \(Navy\)/);
  await page.fill("#profile [name=first_name]", "");
  await page.fill("#profile [name=company_name]", "");
  assert.match(await act(page, submit(page, "profile")), /profile: 200 .*: Grace Lovelace \(no company\)/);
  assert.match(await act(page, button(page, "verify-token")), /verify-token: 200 /);

  step("change the address: the link from the mail to the new one, then log in there");
  const newEmail = `moved-${randomUUID()}@example.com`;
  await page.fill("#change-email [name=new_email]", newEmail);
  await page.fill("#change-email [name=password]", password);
  assert.match(await act(page, submit(page, "change-email")), /change-email: 200 If the address can be used/);
  const confirmation = await tokenFromMail(outbox, newEmail, "confirm-email-change");
  await page.fill("#confirm-email-change [name=token]", confirmation);
  assert.match(await act(page, submit(page, "confirm-email-change")), /confirm-email-change: 200 /);
  {
    const old = await fetch(`${authdUrl}/api/v1/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    assert.equal(old.status, 401, "the old address still logs in");
  }
  await page.fill("#login [name=email]", newEmail);
  await page.fill("#login [name=password]", password);
  assert.match(await act(page, submit(page, "login")), /login: 200 .* as moved-/);
  await tokenFromMail(outbox, email, "revert-email-change");

  step(`sign in with the test provider (${oidcIssuer}): its login page, back with a code, exchanged`);
  {
    const text = await signInAtProvider(page, oidcLogin);
    assert.match(text, /oidc: 200 /);
    assert.ok(text.endsWith(` as ${oidcEmail}`), `not signed in as ${oidcEmail}`);
    assert.match(await act(page, button(page, "verify-token")), /verify-token: 200 valid for oidc-/);
    const cookie = await refreshCookie(context);
    assert.ok(cookie, `no ${cookieName} cookie after the sign-in`);
  }

  step("sign in with the test provider as an address a password account has (another browser): account_exists");
  {
    const added = await fetch(`${oidcIssuer}/__test/accounts`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        grace: { email: newEmail, email_verified: true, given_name: "Grace", family_name: "Hopper" },
      }),
    });
    assert.equal(added.status, 204);
    const other = await browser.newContext();
    await offline(other);
    const page2 = await other.newPage();
    page2.on("pageerror", (e) => problems.push(`second browser page error: ${e.message}`));
    await openPage(page2);
    assert.match(await signInAtProvider(page2, "grace"), /oidc: - error=account_exists$/);
    await other.close();
  }

  step(`Swagger UI ${authdUrl}/docs: Try it out on register, Execute`);
  {
    const docs = await context.newPage();
    docs.on("pageerror", (e) => problems.push(`docs page error: ${e.message}`));
    await docs.goto(`${authdUrl}/docs`);
    const op = docs.locator("#operations-Auth-register");
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    const body = {
      email: `swagger-${randomUUID()}@example.com`,
      password: "Correct-Horse-42x",
      first_name: "Swagger",
      last_name: "User",
    };
    await op.locator("textarea.body-param__text").fill(JSON.stringify(body, null, 2));
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor({ timeout: 15_000 });
    const shown = ((await status.textContent()) ?? "").trim();
    console.log(`  Swagger UI shows: ${shown}`);
    assert.match(shown, /^201/);
    await docs.close();
  }

  assert.deepEqual(problems, []);
  step("passed");
} finally {
  await browser.close();
}
