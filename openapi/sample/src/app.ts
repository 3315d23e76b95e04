// The sample page's logic: the generated client (openapi-fetch over the types
// clients/ts generates from openapi/openapi.json), calling authd from another
// origin with credentials (the refresh cookie) and `X-Requested-With: authd`.
// The access token is kept in this module's memory only: a reload loses it,
// and "refresh" gets a new one through the HttpOnly cookie.
import createClient from "openapi-fetch";

import type { paths } from "../../../clients/ts/src/schema.gen.js";

/** Written by serve.mjs: where authd listens. */
interface Config {
  authdUrl: string;
}

const config = (await (await fetch("./config.json")).json()) as Config;
const api = createClient<paths>({
  baseUrl: config.authdUrl,
  credentials: "include",
  headers: { "X-Requested-With": "authd" },
});

let access: string | null = null;

const status = document.querySelector<HTMLPreElement>("#status")!;
let seq = 0;
/** One line per action: `[n] action: HTTP status message`. */
function show(action: string, response: Response | null, text: string) {
  seq += 1;
  status.dataset["seq"] = String(seq);
  status.textContent = `[${seq}] ${action}: ${response ? response.status : "-"} ${text}`;
}
function failure(error: { message: string; errors?: Record<string, string[]> | null } | undefined): string {
  if (!error) return "no answer";
  const fields = error.errors ? ` ${JSON.stringify(error.errors)}` : "";
  return `${error.message}${fields}`;
}
const bearer = () => (access ? { Authorization: `Bearer ${access}` } : {});

function onSubmit(id: string, handler: (form: FormData) => Promise<void>) {
  const form = document.querySelector<HTMLFormElement>(`#${id}`)!;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    handler(new FormData(form)).catch((e: unknown) => show(id, null, `failed: ${String(e)}`));
  });
}
function onClick(id: string, handler: () => Promise<void>) {
  document.querySelector<HTMLButtonElement>(`#${id}`)!.addEventListener("click", () => {
    handler().catch((e: unknown) => show(id, null, `failed: ${String(e)}`));
  });
}
const field = (form: FormData, name: string) => String(form.get(name) ?? "");

onSubmit("register", async (form) => {
  const { data, error, response } = await api.POST("/api/v1/auth/register/", {
    body: {
      email: field(form, "email"),
      password: field(form, "password"),
      first_name: field(form, "first_name"),
      last_name: field(form, "last_name"),
    },
  });
  show("register", response, data ? `${data.message} (user ${data.data.user_id})` : failure(error));
});

onSubmit("verify-email", async (form) => {
  const { data, error, response } = await api.POST("/api/v1/auth/verify-email/", {
    body: { token: field(form, "token") },
  });
  show("verify-email", response, data ? data.message : failure(error));
});

onSubmit("login", async (form) => {
  const { data, error, response } = await api.POST("/api/v1/auth/login/", {
    body: { email: field(form, "email"), password: field(form, "password") },
  });
  if (!data) return show("login", response, failure(error));
  const result = data.data;
  if ("mfa_required" in result) return show("login", response, "2FA is on: not handled by this sample");
  access = result.token; // the refresh token stays in the HttpOnly cookie
  show("login", response, `${data.message} as ${result.user.email}`);
});

onClick("verify-token", async () => {
  if (!access) return show("verify-token", null, "no access token in memory");
  const { data, error, response } = await api.GET("/api/v1/auth/verify-token/", { headers: bearer() });
  show("verify-token", response, data ? `valid for ${data.data.user.email}` : failure(error));
});

onClick("refresh", async () => {
  const { data, error, response } = await api.POST("/api/v1/auth/token/refresh/", { body: {} });
  if (!data) {
    access = null;
    return show("refresh", response, failure(error));
  }
  access = data.data.token;
  show("refresh", response, `${data.message}: new access token`);
});

onClick("logout", async () => {
  const { data, error, response } = await api.POST("/api/v1/auth/logout/", { headers: bearer(), body: {} });
  access = null;
  show("logout", response, data ? data.message : failure(error));
});

onSubmit("profile", async (form) => {
  if (!access) return show("profile", null, "no access token in memory");
  // A name left empty is sent as null: it stays as it is. An empty
  // company clears it.
  const name = (key: string) => field(form, key).trim() || null;
  const { data, error, response } = await api.PATCH("/api/v1/auth/me/", {
    headers: bearer(),
    body: {
      first_name: name("first_name"),
      last_name: name("last_name"),
      company_name: field(form, "company_name").trim() || null,
    },
  });
  if (!data) return show("profile", response, failure(error));
  const user = data.data.user;
  show("profile", response, `${data.message}: ${user.first_name} ${user.last_name} (${user.company_name ?? "no company"})`);
});

onSubmit("change-email", async (form) => {
  if (!access) return show("change-email", null, "no access token in memory");
  const { data, error, response } = await api.POST("/api/v1/auth/change-email/", {
    headers: bearer(),
    body: { new_email: field(form, "new_email"), password: field(form, "password") },
  });
  show("change-email", response, data ? data.message : failure(error));
});

onSubmit("confirm-email-change", async (form) => {
  const { data, error, response } = await api.POST("/api/v1/auth/confirm-email-change/", {
    body: { token: field(form, "token") },
  });
  // Every session ended: this page's access token is refused from now on.
  if (data) access = null;
  show("confirm-email-change", response, data ? data.message : failure(error));
});

// Sign in with the test provider: the whole page goes to authd (a top-level
// navigation, not fetch: authd sets the cookie that binds the flow to this
// browser, then redirects to the provider's login page). The provider sends
// the browser back to authd, which redirects here with `code=` (exchanged
// below for tokens, once, within 60 s) or `error=`.
onClick("oidc", async () => {
  const back = new URL(location.href);
  back.search = "";
  back.hash = "";
  const start = new URL(`${config.authdUrl}/api/v1/auth/oidc/test/start/`);
  start.searchParams.set("redirect_to", back.href);
  location.assign(start.href);
});

/** Back from the provider: `?code=` to exchange, or `?error=` to show. */
async function oidcReturn() {
  const here = new URL(location.href);
  const code = here.searchParams.get("code");
  const error = here.searchParams.get("error");
  if (code === null && error === null) return;
  // The code is single use: off the address bar (and history) at once.
  here.searchParams.delete("code");
  here.searchParams.delete("error");
  history.replaceState(null, "", here.href);
  if (code === null) return show("oidc", null, `error=${error}`);
  const { data, error: failed, response } = await api.POST("/api/v1/auth/oidc/exchange/", { body: { code } });
  if (!data) return show("oidc", response, failure(failed));
  const result = data.data;
  if ("mfa_required" in result) return show("oidc", response, "2FA is on: not handled by this sample");
  access = result.token; // the refresh token stays in the HttpOnly cookie
  show("oidc", response, `${data.message} as ${result.user.email}`);
}

show("ready", null, `authd at ${config.authdUrl}`);
await oidcReturn().catch((e: unknown) => show("oidc", null, `failed: ${String(e)}`));
