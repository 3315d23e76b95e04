// The account flow through the generated client (openapi-typescript types +
// openapi-fetch), against a live server: AUTHD_URL, and AUTHD_OUTBOX_DIR
// where the server writes its mails. The server must run with the default
// per-IP limit (5 a minute) for the 429 step.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, paths } from "./schema.gen.js";
import { tokenFromMail } from "./mail.js";

type ErrorEnvelope = components["schemas"]["ErrorEnvelope"];

const baseUrl = process.env.AUTHD_URL ?? "http://127.0.0.1:8080";
const outbox = process.env.AUTHD_OUTBOX_DIR;
if (!outbox) throw new Error("AUTHD_OUTBOX_DIR is not set");

const api = createClient<paths>({ baseUrl });
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

function step(name: string) {
  console.log(`ts flow: ${name}`);
}

/** An error answer: the envelope says so, and the status matches. */
function expectError(error: ErrorEnvelope | undefined, response: Response, status: number): ErrorEnvelope {
  assert.ok(error, `expected ${status}, got ${response.status}`);
  assert.equal(response.status, status);
  assert.equal(error.success, false);
  assert.equal(error.status_code, status);
  assert.ok(response.headers.get("x-request-id"));
  return error;
}

const email = `ts-${randomUUID()}@example.com`;
const password = "Typed-Client-Flow-42";

step("register");
{
  const { data, error, response } = await api.POST("/api/v1/auth/register/", {
    body: { email, password, first_name: "Grace", last_name: "Hopper" },
  });
  assert.ok(data, `register: ${response.status} ${JSON.stringify(error)}`);
  assert.equal(response.status, 201);
  const ok: true = data.success; // a constant in the document
  assert.equal(ok, true);
  assert.match(data.data.user_id, /^[0-9a-f-]{36}$/);
}

step("register the same address again: 409");
{
  const { error, response } = await api.POST("/api/v1/auth/register/", {
    body: { email, password, first_name: "Grace", last_name: "Hopper", company_name: null },
  });
  const e = expectError(error, response, 409);
  assert.equal(e.error, "Conflict");
  assert.deepEqual(e.errors?.["email"], ["is already registered"]);
}

step("read the verification mail, verify the email");
{
  const token = await tokenFromMail(outbox, email, "verify-email");
  const { data, error, response } = await api.POST("/api/v1/auth/verify-email/", { body: { token } });
  assert.ok(data, `verify-email: ${response.status} ${JSON.stringify(error)}`);
  assert.equal(data.status_code, 200);
}

step("login");
let access: string;
let refresh: string;
{
  const { data, error, response } = await api.POST("/api/v1/auth/login/", { body: { email, password } });
  assert.ok(data, `login: ${response.status} ${JSON.stringify(error)}`);
  const result = data.data;
  if ("mfa_required" in result) {
    const challenge: true = result.mfa_required;
    throw new Error(`unexpected MFA challenge (${challenge})`);
  }
  assert.equal(result.token_type, "Bearer");
  assert.equal(result.user.email, email);
  const company: string | null = result.user.company_name;
  assert.equal(company, null);
  assert.ok(!Number.isNaN(Date.parse(result.user.created_at)));
  assert.ok(result.device_token.length > 20);
  access = result.token;
  refresh = result.refresh_token;
}

step("verify-token");
{
  const { data, error, response } = await api.GET("/api/v1/auth/verify-token/", bearer(access));
  assert.ok(data, `verify-token: ${response.status} ${JSON.stringify(error)}`);
  assert.equal(data.data.user.email, email);
  assert.ok(data.data.expires_at > Date.now() / 1000);
}

step("refresh");
{
  const { data, error, response } = await api.POST("/api/v1/auth/token/refresh/", {
    body: { refresh_token: refresh },
  });
  assert.ok(data, `refresh: ${response.status} ${JSON.stringify(error)}`);
  assert.notEqual(data.data.refresh_token, refresh);
  access = data.data.token;
  refresh = data.data.refresh_token;
}

step("admin: find the user, give a role; the next refresh's token carries it");
{
  const adminKey = process.env.AUTHD_ADMIN_KEY;
  if (!adminKey) throw new Error("AUTHD_ADMIN_KEY is not set");
  const admin = bearer(adminKey);
  const list = await api.GET("/api/v1/admin/users/", { ...admin, params: { query: { q: email, limit: 5 } } });
  assert.ok(list.data, `adminListUsers: ${list.response.status} ${JSON.stringify(list.error)}`);
  assert.equal(list.data.data.users.length, 1);
  const user = list.data.data.users[0];
  assert.ok(user);
  assert.equal(user.email, email);
  assert.equal(user.disabled, false);
  const patched = await api.PATCH("/api/v1/admin/users/{id}/", {
    ...admin,
    params: { path: { id: user.id } },
    body: { roles: ["staff"], app_metadata: { plan: "pro" } },
  });
  assert.ok(patched.data, `adminUpdateUser: ${patched.response.status} ${JSON.stringify(patched.error)}`);
  assert.deepEqual(patched.data.data.user.roles, ["staff"]);
  const asUser = await api.GET("/api/v1/admin/users/", { ...bearer(access) });
  expectError(asUser.error, asUser.response, 401);
  const { data, error, response } = await api.POST("/api/v1/auth/token/refresh/", {
    body: { refresh_token: refresh },
  });
  assert.ok(data, `refresh: ${response.status} ${JSON.stringify(error)}`);
  access = data.data.token;
  refresh = data.data.refresh_token;
  const claims = JSON.parse(Buffer.from(access.split(".")[1] ?? "", "base64url").toString());
  assert.deepEqual(claims.roles, ["staff"]);
  assert.deepEqual(claims.app_metadata, { plan: "pro" });
  const me = await api.GET("/api/v1/auth/me/", bearer(access));
  assert.ok(me.data, `me: ${me.response.status}`);
  assert.deepEqual(me.data.data.user.roles, ["staff"]);
}

step("logout");
{
  const { data, error, response } = await api.POST("/api/v1/auth/logout/", {
    ...bearer(access),
    body: { refresh_token: refresh },
  });
  assert.ok(data, `logout: ${response.status} ${JSON.stringify(error)}`);
  assert.equal(data.message, "Logged out");
}

step("verify-token after logout: 401 with the Bearer challenge");
{
  const { data, error, response } = await api.GET("/api/v1/auth/verify-token/", bearer(access));
  assert.equal(data, undefined);
  expectError(error, response, 401);
  assert.equal(response.headers.get("www-authenticate"), "Bearer");
}

step("login too often from one address: 429 with retry_after");
{
  const body = { email: `nobody-${randomUUID()}@example.com`, password: "Wrong-Password-1" };
  let limited: { error: ErrorEnvelope; response: Response } | undefined;
  for (let i = 0; i < 6 && !limited; i++) {
    const { error, response } = await api.POST("/api/v1/auth/login/", { body });
    assert.ok(error, "a wrong password must not log in");
    if (response.status === 429) limited = { error, response };
    else expectError(error, response, 401);
  }
  assert.ok(limited, "no 429 after 6 logins from one address within a minute");
  const e = expectError(limited.error, limited.response, 429);
  const retryAfter = e.data?.retry_after;
  assert.ok(retryAfter !== undefined && retryAfter > 0);
  assert.equal(limited.response.headers.get("retry-after"), String(retryAfter));
}

console.log("ts flow: passed");
