// Browser tests of the managers' dashboard: real headless Chromium (Debian's) driven by
// playwright-core, against a relay started with demo data (ZHUQI_URL). Screenshots of the main pages
// go to ZHUQI_ARTIFACTS. Prints each scenario and "N passed, M failed"; exits non-zero on failure.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import XLSX from "xlsx";

const base = process.env.ZHUQI_URL;
const artifacts = process.env.ZHUQI_ARTIFACTS ?? "browser-artifacts";
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
// Anything the Content-Security-Policy blocks (an inline script or style) is reported on the console.
const violations = [];
page.on("console", (m) => {
  if (m.type() === "error" && /Content Security Policy/i.test(m.text())) violations.push(m.text());
});
const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
const card = async (label) => (await page.locator(".card", { hasText: label }).locator("b").innerText()).trim();

await scenario("a visitor lands on the sign-in page and signs in", async () => {
  await page.goto(base + "/");
  check(page.url().endsWith("/login"), `at ${page.url()}`);
  await shot("login");
  await page.fill("input[name=login]", "410102-office");
  await page.fill("input[name=password]", "zhuqi2026");
  await page.click("button[type=submit]");
  await page.waitForURL(base + "/");
  check((await page.locator("h2").innerText()).includes("中原区"), "overview of the county");
});

let reported = 0;
await scenario("the overview's figures equal the relay's data", async () => {
  await page.goto(base + "/?from=2000-01-01&to=2099-12-31");
  reported = Number(await card("上报问题"));
  check(reported > 0, "problems reported");
  // The same period in the problem list, counted row by row.
  await page.goto(base + "/problems?from=2000-01-01&to=2099-12-31");
  const rows = await page.locator("#problems tbody tr").count();
  check(rows === reported, `overview says ${reported}, list has ${rows}`);
  await page.goto(base + "/?from=2000-01-01&to=2099-12-31");
  check((await page.locator("svg rect").count()) > 0, "weekly chart");
  await shot("overview");
});

let overdueIds = [];
// An overdue problem being handled (past its deadline), which the desk may urge; the others are
// overdue because nobody accepted and routed them in time.
let lateId = null;
await scenario("the problem list filters overdue problems", async () => {
  await page.goto(base + "/problems");
  await page.check("input[name=overdue]");
  await page.click("form.period button");
  await page.waitForURL(/overdue=1/);
  const rows = page.locator("#problems tbody tr");
  overdueIds = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  check(overdueIds.length > 0, `some overdue problems at ${page.url()}`);
  const texts = await rows.allInnerTexts();
  for (const text of texts) check(text.includes("超期"), `row not overdue: ${text}`);
  lateId = overdueIds[texts.findIndex((t) => t.includes("办理中"))];
  check(lateId, "an overdue problem being handled");
  await shot("problems-overdue");
});

await scenario("a timeline opens, and an urge from the desk appears in it", async () => {
  await page.click(`#problems tbody tr[data-id="${lateId}"] a`);
  await page.waitForURL(/\/problems\//);
  check(await page.locator("#timeline").isVisible(), "timeline shown");
  const before = await page.locator("#timeline tr.event", { hasText: "催办" }).count();
  await page.fill("form[action$='/urge'] input[name=note]", "浏览器测试催办：请本周内办结");
  await page.click("#urge");
  await page.waitForLoadState();
  const urges = page.locator("#timeline tr.event", { hasText: "催办" });
  check((await urges.count()) === before + 1, "one more urge");
  check((await page.locator("#timeline").innerText()).includes("浏览器测试催办"), "note shown");
  await shot("timeline");
});

await scenario("the CSV and XLSX exports hold the listed rows", async () => {
  await page.goto(base + "/problems?overdue=1");
  const ids = await page.locator("#problems tbody tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.click("text=导出 CSV")]);
  const csv = fs.readFileSync(await csvDownload.path());
  check(csv[0] === 0xef && csv[1] === 0xbb && csv[2] === 0xbf, "UTF-8 BOM");
  const lines = csv.toString("utf8").slice(1).trim().split("\n");
  check(lines[0].startsWith("编号,问题,企业"), `header ${lines[0]}`);
  check(lines.length - 1 === ids.length, `csv rows ${lines.length - 1} vs ${ids.length}`);
  check(ids.every((id) => lines.some((l) => l.startsWith(id))), "every listed problem exported");
  const [xlsxDownload] = await Promise.all([page.waitForEvent("download"), page.click("text=导出 Excel")]);
  const book = XLSX.read(fs.readFileSync(await xlsxDownload.path()));
  const sheet = XLSX.utils.sheet_to_json(book.Sheets["问题"], { header: 1 });
  check(sheet.length - 1 === ids.length, `xlsx rows ${sheet.length - 1}`);
  check(sheet.slice(1).every((row) => ids.includes(row[0])), "xlsx ids");
});

await scenario("the monthly ranking shows, and exports", async () => {
  await page.goto(base + "/ranking");
  check(await page.locator("#ranking-counties").isVisible(), "county ranking");
  check((await page.locator("#ranking-departments tbody tr").count()) === 4, "four bureaus");
  await shot("ranking");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=导出 Excel")]);
  const book = XLSX.read(fs.readFileSync(await download.path()));
  check(book.SheetNames.join() === "县区,责任单位", book.SheetNames.join());
});

await scenario("enterprise and cadre pages", async () => {
  await page.goto(base + "/enterprises/demo-ent-000");
  check(await page.locator("#visits").isVisible(), "visits");
  await page.click("#cadres a");
  await page.waitForURL(/\/cadres\//);
  check(await page.locator("#per-month").isVisible(), "visits per month");
  await shot("cadre");
});

await scenario("photos: thumbnails in visits and timelines open the original; missing ones are listed", async () => {
  await page.goto(base + "/enterprises/demo-ent-000");
  const thumbs = page.locator("#visits img.thumb");
  check((await thumbs.count()) > 0, "the visits' photos as thumbnails");
  await thumbs.first().scrollIntoViewIfNeeded();
  const loaded = await thumbs.evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode().then(() => img.naturalWidth))));
  check(loaded.every((w) => w === 320), `thumbnails decoded at 320 px: ${loaded}`);
  await shot("enterprise-photos");
  const original = await page.locator("#visits a.photo").first().getAttribute("href");
  const photo = await page.request.get(base + original);
  check(photo.status() === 200 && photo.headers()["content-type"] === "image/jpeg", `original ${photo.status()}`);
  check((await photo.body()).length > 0, "the original's bytes");
  // A resolved problem's timeline shows the resolution's photo.
  await page.goto(base + "/problems?status=resolved&from=2000-01-01&to=2099-12-31");
  await page.click("#problems tbody tr a");
  await page.waitForURL(/\/problems\//);
  const resolution = page.locator("#timeline tr.event", { hasText: "办结" }).locator("img.thumb");
  check((await resolution.count()) === 1, "the resolution's photo in the timeline");
  check(await resolution.evaluate((img) => img.decode().then(() => img.naturalWidth > 0)), "it loads");
  await shot("timeline-photo");
  // The photo one visit named that never arrived, under its cadre.
  await page.goto(base + "/photos/missing?days=0");
  const missing = page.locator("#missing tbody tr");
  check((await missing.count()) >= 1, "a cadre with a missing photo");
  check((await missing.first().innerText()).includes("走访"), await missing.first().innerText());
  await shot("missing-photos");
});

await scenario("a task notice goes to cadres found by the form's search, ticked across searches, without script", async () => {
  // The picker is plain HTML: the same session in a context with JavaScript off.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  await nojs.addCookies(await context.cookies());
  const p = await nojs.newPage();
  await p.goto(base + "/notices");
  check((await p.locator('input[name=to][value^="cadre:"]').count()) === 0, "no cadre listed before a search");
  await p.fill("input[name=title]", "浏览器下发的通知");
  await p.fill("textarea[name=body]", "请于月底前完成走访");
  await p.fill("input[name=deadline]", "2099-01-31");
  await p.fill("input[name=q]", "410102-cadre2");
  await p.click("button[name=search]");
  await p.waitForURL(/q=410102-cadre2/);
  check(!p.url().includes("csrf"), `no token in the address: ${p.url()}`);
  check((await p.inputValue("input[name=title]")) === "浏览器下发的通知", "the title filled in again");
  check((await p.inputValue("textarea[name=body]")) === "请于月底前完成走访", "the body filled in again");
  await p.check('input[name=to][value="cadre:410102-cadre2"]');
  // Enter in the search field searches (it does not issue); what was ticked stays ticked.
  await p.fill("input[name=q]", "410102-cadre3");
  await p.press("input[name=q]", "Enter");
  await p.waitForURL(/q=410102-cadre3/);
  check(await p.isChecked('input[name=to][value="cadre:410102-cadre2"]'), "ticked across searches");
  await p.check('input[name=to][value="cadre:410102-cadre3"]');
  await p.check('input[name=to][value="department:410102-finance"]');
  await p.screenshot({ path: path.join(artifacts, "notices-picker.png"), fullPage: true });
  await p.click("button.primary");
  await p.waitForURL(/\/notices\/[0-9a-f-]+$/);
  const recipients = await p.locator("#recipients tbody tr").allInnerTexts();
  check(recipients.length === 3, `recipients: ${recipients.join(" | ")}`);
  check(recipients.some((r) => r.includes("中原区财政局")), "the bureau among them");
  await nojs.close();
});

await scenario("tables sort by a clicked column, with the script served under the CSP", async () => {
  const response = await page.goto(base + "/problems?from=2000-01-01&to=2099-12-31");
  const headers = response.headers();
  check(headers["content-security-policy"]?.includes("script-src 'self'"), "CSP header");
  check(headers["x-frame-options"] === "DENY", "X-Frame-Options");
  const column = async () => page.locator("#problems tbody tr td:nth-child(3)").allInnerTexts();
  await page.click("#problems th:nth-child(3)");
  const ascending = await column();
  check(ascending.join() === [...ascending].sort().join(), "sorted ascending");
  await page.click("#problems th:nth-child(3)");
  const descending = await column();
  check(descending.join() === [...ascending].reverse().join(), "sorted descending");
  check(violations.length === 0, `CSP violations: ${violations.join(" | ")}`);
});

for (const login of ["410102-finance-handler", "ent000"]) {
  await scenario(`a ${login.startsWith("ent") ? "enterprise" : "department handler"} account is refused the manager pages`, async () => {
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(base + "/login");
    await p.fill("input[name=login]", login);
    await p.fill("input[name=password]", "zhuqi2026");
    await p.click("button[type=submit]");
    await p.waitForLoadState();
    const response = await p.goto(base + "/problems");
    check(response.status() === 403, `status ${response.status()}`);
    check((await p.content()).includes("仅供活动办"), "explains why");
    await other.close();
  });
}

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
