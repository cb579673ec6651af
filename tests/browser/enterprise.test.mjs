// Browser tests of the enterprise pages on a phone: real headless Chromium (Debian's) driven by
// playwright-core, with a phone's viewport (360×740, touch, a messaging app's mobile user agent) and
// JavaScript off, against the relay started with demo data (ZHUQI_URL). The province's campaign
// office issues web sign-in links on the dashboard; each link is opened on the phone, which signs
// in, confirms a resolution with a rating, rejects another, reports a problem, and cannot reach
// another enterprise's problem; used and expired links are refused (a link is expired by writing
// its expiry into the relay's SQLite file, ZHUQI_DB, with the sqlite3 command). Screenshots at
// 360×740 go to ZHUQI_ARTIFACTS (e-*.png). Prints each scenario and "N passed, M failed"; exits
// non-zero on failure.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";

const base = process.env.ZHUQI_URL;
const artifacts = process.env.ZHUQI_ARTIFACTS ?? "browser-artifacts";
const dbFile = process.env.ZHUQI_DB;
fs.mkdirSync(artifacts, { recursive: true });
let passed = 0;
let failed = 0;

async function scenario(name, body) {
  const started = Date.now();
  try {
    await body();
    passed++;
    console.log(`PASS  ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${e.stack ?? e}`);
  }
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

function sql(query, write = false) {
  const args = [...(write ? [] : ["-readonly"]), "-json", "-cmd", ".timeout 10000", dbFile, query];
  const out = execFileSync("sqlite3", args, { encoding: "utf8" });
  return out.trim() ? JSON.parse(out) : [];
}

const PHONE = {
  viewport: { width: 360, height: 740 },
  deviceScaleFactor: 1,
  isMobile: true,
  hasTouch: true,
  javaScriptEnabled: false,
  locale: "zh-CN",
  userAgent:
    "Mozilla/5.0 (Linux; Android 14; V2307A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.49",
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// Anything the Content-Security-Policy blocks is reported on the console.
const violations = [];
function watch(page) {
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return page;
}
/// Taps a form's button and waits for the page the answer leads to (it may have the same address).
const submit = (page, button) => Promise.all([page.waitForEvent("load"), page.locator(button).tap()]);
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `e-${name}.png`) });

// The campaign office (the province's, over every enterprise of the demo) on the dashboard.
const officeContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const office = watch(await officeContext.newPage());
await office.goto(base + "/login");
await office.fill("input[name=login]", "province");
await office.fill("input[name=password]", "zhuqi2026");
await office.click("button[type=submit]");
await office.waitForURL(base + "/");

/// Issues a web link for the enterprise's contact from its dashboard page: { url, code }.
async function issueLink(enterprise) {
  await office.goto(`${base}/enterprises/${enterprise}`);
  await office.click("#web-link button");
  await office.waitForURL(/\/web-link$/);
  const url = await office.locator("#link-url").getAttribute("href");
  const code = (await office.locator("#link-code").innerText()).trim();
  check(url.startsWith(base + "/e/l/"), `link ${url}`);
  check(/^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/.test(code), `code ${code}`);
  return { url, code };
}

// Two resolved problems of two enterprises, waiting for their answers.
const resolved = sql(
  "SELECT id, enterprise_id FROM problems WHERE status = 'resolved' ORDER BY enterprise_id, id",
);
const first = resolved[0];
const second = resolved.find((p) => p.enterprise_id !== first?.enterprise_id);
const phones = [];
async function phone() {
  const context = await browser.newContext(PHONE);
  phones.push(context);
  return watch(await context.newPage());
}

let link = null;
let home = null;
await scenario("the office issues a link on the enterprise page, and the phone signs in with it", async () => {
  check(first && second, `two resolved problems of two enterprises: ${JSON.stringify(resolved)}`);
  await office.goto(`${base}/enterprises/${first.enterprise_id}`);
  check((await office.locator("#reach").innerText()).includes("从未触达"), "never reached before");
  link = await issueLink(first.enterprise_id);
  check((await office.locator("#sms").innerText()).includes(link.url), "the SMS text carries the link");
  home = await phone();
  const response = await home.goto(link.url);
  check(response.status() === 200, `link page ${response.status()}`);
  check(response.headers()["content-security-policy"]?.includes("script-src 'self'"), "CSP");
  await shot(home, "link");
  // Opening the link again (as a preview would) uses nothing up.
  await home.goto(link.url);
  await submit(home, "#sign-in button");
  check(home.url() === base + "/e/", `signed in: ${home.url()}`);
  check((await home.locator("script").count()) === 0, "no script on the page");
  check((await home.locator("#awaiting").innerText()).includes("待您确认"), "problems waiting for an answer");
  check((await home.locator(`a.problem[data-id="${first.id}"]`).count()) > 0, "the resolved problem listed");
  const box = await home.locator("#report").boundingBox();
  check(box && box.width > 300 && box.width <= 360, `a full-width button on a 360 px screen: ${JSON.stringify(box)}`);
  await shot(home, "home");
  await office.goto(`${base}/enterprises/${first.enterprise_id}`);
  check((await office.locator("#reach").innerText()).includes("网页登录 1 次"), "reached now");
});

await scenario("the phone confirms a resolution with a rating", async () => {
  await home.goto(`${base}/e/problems/${first.id}`);
  check(await home.locator("#confirm").isVisible(), "the confirmation form");
  await shot(home, "problem");
  await home.locator(".stars label", { hasText: "4分" }).tap();
  await home.fill("#comment", "办理及时，很满意");
  await submit(home, "#confirm button");
  check(home.url() === `${base}/e/problems/${first.id}`, home.url());
  check((await home.locator("#status").innerText()).includes("企业已确认"), "confirmed");
  check((await home.locator("#timeline").innerText()).includes("满意度 4 分 办理及时，很满意"), "in the timeline");
  check((await home.locator("#confirm").count()) === 0, "no second confirmation");
  await shot(home, "confirmed");
  // The office sees the enterprise's own confirmation, and the figures count it so.
  await office.goto(`${base}/problems/${first.id}`);
  check((await office.locator("#timeline").innerText()).includes("企业确认"), "on the dashboard");
  const row = sql(`SELECT status, rating, confirmation FROM problems WHERE id = '${first.id}'`)[0];
  check(row.status === "confirmed" && row.rating === 4 && row.confirmation === "enterprise", JSON.stringify(row));
  const device = sql(`SELECT device_id FROM changes WHERE doc_id = '${first.id}' ORDER BY seq DESC LIMIT 1`)[0];
  const name = sql(`SELECT name FROM devices WHERE id = '${device.device_id}'`)[0];
  check(device.device_id.startsWith("web:") && name.name.includes("MicroMessenger"), `audit: ${JSON.stringify([device, name])}`);
});

await scenario("another enterprise's problem is out of reach by its id", async () => {
  const other = await home.goto(`${base}/e/problems/${second.id}`);
  const otherText = await home.locator("main").innerText();
  const none = await home.goto(`${base}/e/problems/no-such-problem`);
  const noneText = await home.locator("main").innerText();
  check(other.status() === 404 && none.status() === 404, `${other.status()} ${none.status()}`);
  check(otherText === noneText, "the same answer as for a problem that does not exist");
  await shot(home, "not-found");
});

await scenario("a second enterprise's phone rejects a resolution, which reopens", async () => {
  const second_link = await issueLink(second.enterprise_id);
  const p = await phone();
  await p.goto(second_link.url);
  await submit(p, "#sign-in button");
  check(p.url() === base + "/e/", `signed in: ${p.url()}`);
  await p.goto(`${base}/e/problems/${second.id}`);
  await p.locator("#reject-box summary").tap();
  await p.fill("#reason", "问题尚未解决，请继续协调");
  await shot(p, "reject");
  await submit(p, "#reject button");
  const status = await p.locator("#status").innerText();
  check(status.includes("办理中"), status);
  check((await p.locator("#timeline").innerText()).includes("企业退回"), "in the timeline");
  await shot(p, "rejected");
  const row = sql(`SELECT status FROM problems WHERE id = '${second.id}'`)[0];
  check(row.status === "routed", `reopened: ${row.status}`);
});

await scenario("the phone reports a new problem, which the office sees", async () => {
  await home.goto(base + "/e/");
  await submit(home, "#report");
  check(home.url() === base + "/e/report", home.url());
  await home.selectOption("#category", "utilities");
  await home.fill("#title", "浏览器反映：厂区用电不稳定");
  await home.fill("#description", "本月多次停电，影响生产。\n希望协调供电公司。");
  await shot(home, "report");
  await submit(home, "#report-form button");
  check(/\/e\/problems\/[0-9a-f-]+$/.test(home.url()), home.url());
  check((await home.locator("h1").innerText()).includes("浏览器反映：厂区用电不稳定"), "the new problem");
  await shot(home, "reported");
  const row = sql("SELECT enterprise_id, reporter_role, status FROM problems WHERE title = '浏览器反映：厂区用电不稳定'")[0];
  check(row?.enterprise_id === first.enterprise_id && row.reporter_role === "enterprise_contact", JSON.stringify(row));
  await office.goto(`${base}/problems?q=${encodeURIComponent("浏览器反映")}`);
  check((await office.locator("#problems tbody tr").count()) === 1, "in the office's list");
});

await scenario("a used link and an expired link are refused", async () => {
  const p = await phone();
  let response = await p.goto(link.url);
  check(response.status() === 401, `used: ${response.status()}`);
  check((await p.locator("#error").innerText()).includes("链接无效"), "says why");
  await shot(p, "link-used");
  // A link of a third enterprise, expired in the relay's database.
  const third = sql(
    `SELECT e.id FROM enterprises e WHERE e.id NOT IN ('${first.enterprise_id}', '${second.enterprise_id}') ORDER BY e.id LIMIT 1`,
  )[0].id;
  const expired = await issueLink(third);
  response = await p.goto(expired.url);
  check(response.status() === 200, "live before");
  sql(`UPDATE web_links SET expires_at = 1 WHERE user_id = '${third}-contact' AND used_at IS NULL`, true);
  response = await p.goto(expired.url);
  check(response.status() === 401, `expired: ${response.status()}`);
  // The code typed by hand is refused too.
  await p.goto(base + "/e/");
  await p.fill("#code", expired.code.toLowerCase());
  await submit(p, "#sign-in button");
  check((await p.locator("#error").getAttribute("data-code")) === "bad_code", "typed code refused");
  await shot(p, "link-expired");
});

await scenario("the signed-in phone signs out", async () => {
  await home.goto(base + "/e/");
  await submit(home, "#sign-out");
  check(home.url() === base + "/e/", home.url());
  check((await home.locator("#sign-in").count()) === 1, "back to the sign-in form");
  const response = await home.goto(`${base}/e/problems/${first.id}`);
  check(home.url() === base + "/e/" && response.status() === 200, `signed out: ${home.url()}`);
});

await scenario("the first page's weight, as a phone's browser transfers it", async () => {
  const issued = await issueLink(sql("SELECT id FROM enterprises ORDER BY id DESC LIMIT 1")[0].id);
  const context = await browser.newContext({ ...PHONE, javaScriptEnabled: true });
  const p = watch(await context.newPage());
  let bytes = 0;
  p.on("response", async (r) => {
    const body = await r.body().catch(() => Buffer.alloc(0));
    bytes += body.length + Object.entries(await r.allHeaders()).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  });
  await p.goto(issued.url, { waitUntil: "load" });
  const timing = await p.evaluate(() => {
    const [nav] = performance.getEntriesByType("navigation");
    const css = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/e/e.css"));
    return { document: nav.transferSize, css: css?.transferSize ?? 0, serverMs: nav.responseStart - nav.requestStart };
  });
  console.log(
    `      first page: ${bytes} bytes (document ${timing.document} + stylesheet ${timing.css} as transferred), ` +
      `${timing.serverMs.toFixed(1)} ms to the first byte on loopback`,
  );
  check(bytes < 100 * 1024, `under 100 KB: ${bytes}`);
  await context.close();
});

await scenario("nothing was blocked by the Content-Security-Policy", async () => {
  check(violations.length === 0, `CSP violations: ${violations.join(" | ")}`);
});

for (const c of phones) await c.close();
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
