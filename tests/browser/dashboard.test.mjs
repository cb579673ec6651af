// Browser tests of the managers' dashboard: real headless Chromium (Debian's) driven by
// playwright-core, against a relay started with demo data (ZHUQI_URL). The figures the pages show
// (cards, tables, charts, rankings) are checked against figures worked out here from the relay's
// SQLite file (ZHUQI_DB, read with the sqlite3 command). Screenshots of the main pages go to
// ZHUQI_ARTIFACTS. Prints each scenario and "N passed, M failed"; exits non-zero on failure.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import XLSX from "xlsx";
import { execFileSync } from "node:child_process";

const base = process.env.ZHUQI_URL;
const artifacts = process.env.ZHUQI_ARTIFACTS ?? "browser-artifacts";
// The relay's database file, read (never written) to work the expected figures out.
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

// ---- The figures worked out independently, from the relay's SQLite file (ZHUQI_DB), read-only ----
// The definitions are those of server/src/dashboard/kpi.rs; the rows are read whole and counted
// here, so that the pages' grouped SQL is checked against a second, plain reading of the data.

const DAY = 86_400_000;
/// China Standard Time's offset: days, months and years start at midnight in Beijing.
const CST = 8 * 3_600_000;
/// A problem reported (or accepted) and not routed within this is overdue (core: ACCEPTANCE_LIMIT_MS).
const ACCEPTANCE_LIMIT = 3 * DAY;
const VOID = new Set(["withdrawn", "merged"]);
const RESOLVED = new Set(["resolved", "confirmed", "closed"]);

function sql(query) {
  const out = execFileSync("sqlite3", ["-readonly", "-json", "-cmd", ".timeout 10000", dbFile, query], {
    encoding: "utf8",
  });
  return out.trim() ? JSON.parse(out) : [];
}

/// Everything the figures are made of, as the relay's tables hold it now.
function readRelay() {
  const window = sql("SELECT value FROM counters WHERE name = 'offline_window_ms'")[0]?.value ?? 7 * DAY;
  const regions = sql("SELECT id, name, level, parent_id FROM regions");
  const departments = sql("SELECT id, name, region_id FROM departments");
  const problems = sql(`SELECT id, region_id, department_id, category, status, reporter_role, escalation_count,
      reported_at, resolved_at, resolution_received_at, deadline, missed_deadline, confirmed_at, closed_at,
      rating, confirmation FROM problems`);
  // A visit counts for its enterprise's region.
  const visits = sql(`SELECT v.enterprise_id, v.date, v.received_at, COALESCE(e.region_id, v.region_id) AS region_id
      FROM visits v LEFT JOIN enterprises e ON e.id = v.enterprise_id`);
  const enterprises = sql("SELECT id, region_id FROM enterprises");
  const parent = new Map(regions.map((r) => [r.id, r.parent_id]));
  /// Whether `region` is `root` or under it.
  const under = (region, root) => {
    for (let r = region, n = 0; r && n < 20; r = parent.get(r), n++) if (r === root) return true;
    return false;
  };
  return { window, regions, departments, problems, visits, enterprises, under };
}

/// The first moment of a date (`YYYY-MM-DD`) in China, ms.
function dayStart(date) {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d) - CST;
}

/// `[from, to)` of a month (`YYYY-MM`) or a year (`YYYY`) in China.
function termPeriod(term) {
  const [y, m] = term.split("-").map(Number);
  if (m === undefined) return { from: Date.UTC(y, 0, 1) - CST, to: Date.UTC(y + 1, 0, 1) - CST };
  return { from: Date.UTC(y, m - 1, 1) - CST, to: Date.UTC(y, m, 1) - CST };
}

/// The month (`YYYY-MM`) a moment falls in, in China.
function monthOf(t) {
  const d = new Date(t + CST);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/// An event's time as the figures judge it: its own, unless it reached the relay more than the
/// offline window later (entered late, 补录): then its arrival.
const judged = (at, receivedAt, window) => (receivedAt != null && receivedAt - at > window ? receivedAt : at);

/// How long a problem has been overdue at `now` (ms), or null: routed and past its deadline, or
/// reported (or accepted) and not routed within the acceptance limit.
function overdueFor(p, now) {
  if (p.status === "routed") return p.deadline != null && p.deadline < now ? now - p.deadline : null;
  if (p.status === "reported" || p.status === "accepted") {
    const limit = p.reported_at + ACCEPTANCE_LIMIT;
    return limit < now ? now - limit : null;
  }
  return null;
}

const ratio = (n, d) => (d > 0 ? n / d : null);

/// The figures of the problems `inUnit` selects and the visits and enterprises of the regions
/// `inRegion` selects, for `period`, at `now` (kpi.rs's definitions).
function figuresOf(data, { problem: inUnit, region: inRegion }, period, now) {
  const within = (t) => t != null && t >= period.from && t < period.to;
  const c = {
    reported: 0, reportedResolved: 0, byEnterprise: 0, escalated: 0, resolved: 0, withDeadline: 0, onTime: 0,
    rated: 0, satisfied: 0, ratingSum: 0, unanswered: 0, overdue: 0, visits: 0, enterprises: 0,
  };
  for (const p of data.problems) {
    if (VOID.has(p.status) || !inUnit(p)) continue;
    const resolvedNow = RESOLVED.has(p.status);
    if (within(p.reported_at)) {
      c.reported++;
      if (resolvedNow) c.reportedResolved++;
      if (p.reporter_role === "enterprise_contact") c.byEnterprise++;
      if (p.escalation_count > 0) c.escalated++;
    }
    const resolvedAt = p.resolved_at == null ? null : judged(p.resolved_at, p.resolution_received_at, data.window);
    if (resolvedNow && within(resolvedAt)) {
      c.resolved++;
      const deadline = p.missed_deadline ?? p.deadline;
      if (deadline != null) {
        c.withDeadline++;
        if (resolvedAt <= deadline) c.onTime++;
      }
    }
    if (p.rating != null && within(p.confirmed_at)) {
      c.rated++;
      c.ratingSum += p.rating;
      if (p.rating >= 4) c.satisfied++;
    }
    if (p.confirmation === "unanswered" && within(p.closed_at)) c.unanswered++;
    if (overdueFor(p, now) != null) c.overdue++;
  }
  const visited = new Set();
  for (const v of data.visits) {
    if (!v.region_id || !inRegion(v.region_id)) continue;
    const day = dayStart(v.date);
    const counted = judged(day, v.received_at, data.window);
    // Entered late: counted on the day (in China) it arrived.
    const countedDay = counted === day ? day : Math.floor((counted + CST) / DAY) * DAY - CST;
    if (within(countedDay)) {
      c.visits++;
      visited.add(v.enterprise_id);
    }
  }
  c.enterprisesVisited = visited.size;
  c.enterprises = data.enterprises.filter((e) => inRegion(e.region_id)).length;
  return {
    ...c,
    resolutionRate: ratio(c.reportedResolved, c.reported),
    onTimeRate: ratio(c.onTime, c.withDeadline),
    satisfactionRate: ratio(c.satisfied, c.rated + c.unanswered),
    averageRating: ratio(c.ratingSum, c.rated),
    coverage: ratio(c.enterprisesVisited, c.enterprises),
  };
}

/// A region's unit: its problems and visits, and everything under it.
const regionUnit = (data, id) => ({
  problem: (p) => data.under(p.region_id, id),
  region: (r) => data.under(r, id),
});
/// A department's unit: the problems routed to it (its visits are not part of any score).
const departmentUnit = (id) => ({ problem: (p) => p.department_id === id, region: () => false });

/// `x` with `digits` decimals as Rust's `format!("{x:.N}")` writes it: from the double's exact
/// value, an exact tie rounded to even (JavaScript's toFixed rounds it up: 6.25 is "6.3" there).
function fixed(x, digits) {
  if (x < 0) return `-${fixed(-x, digits)}`;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  // x = mantissa × 2^e exactly.
  const [mantissa, e] = exponent === 0 ? [fraction, -1074] : [fraction | (1n << 52n), exponent - 1075];
  const scaled = mantissa * 10n ** BigInt(digits);
  let q;
  if (e >= 0) {
    q = scaled << BigInt(e);
  } else {
    const den = 1n << BigInt(-e);
    q = scaled / den;
    const r2 = 2n * (scaled % den);
    if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  }
  const s = q.toString().padStart(digits + 1, "0");
  return digits === 0 ? s : `${s.slice(0, -digits)}.${s.slice(-digits)}`;
}

/// A rate as the pages write it ("87.5%", "—" when there is nothing to measure).
const pct = (v) => (v == null ? "—" : `${fixed(v * 100, 1)}%`);
const rating = (v) => (v == null ? "—" : fixed(v, 2));
/// A rate as the ranking's tables write it: percent, one decimal, no sign ("87.5", "100").
const rankRate = (v) => (v == null ? "—" : String(Math.round(v * 1000) / 10));
/// The documented score (kpi::score): a rate with nothing to measure counts as 1.
function score(f, coverage) {
  const r = (x) => x ?? 1;
  return 100 * (0.4 * r(f.resolutionRate) + 0.25 * r(f.onTimeRate) + 0.25 * r(f.satisfactionRate) + 0.1 * r(coverage));
}
/// A score as the ranking's tables write it.
const scoreText = (s) => String(Math.round(s * 10) / 10);
/// A number of a page ("1,234" → 1234; "—" → null).
const num = (s) => (s === "—" || s === "" ? null : Number(s.replace(/,/g, "").replace(/%$/, "")));

/// The rows of a table, by header (cell text, trimmed; tables hidden in a closed <details> too).
function tableRows(locator) {
  return locator.evaluate((t) => {
    const headers = [...t.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    return [...t.querySelectorAll("tbody tr")].map((tr) =>
      Object.fromEntries([...tr.children].map((td, i) => [headers[i], td.textContent.trim()])),
    );
  });
}

/// The overview's cards, by label.
async function cardsOf(p) {
  const cards = await p.locator(".card").evaluateAll((cs) =>
    cs.map((c) => [c.firstChild.textContent.trim(), c.querySelector("b").textContent.trim()]),
  );
  return Object.fromEntries(cards);
}

/// Compares what a page shows with what was worked out, naming every difference.
function same(where, shown, expected) {
  const diffs = Object.keys(expected)
    .filter((k) => shown[k] !== expected[k])
    .map((k) => `${k}: shown ${JSON.stringify(shown[k])}, expected ${JSON.stringify(expected[k])}`);
  check(diffs.length === 0, `${where}: ${diffs.join("; ")}`);
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

const CATEGORY_ZH = {
  financing: "融资", land: "用地", labour: "用工", approvals: "审批", utilities: "水电气暖",
  legal: "法律", policy: "政策", market: "市场", other: "其他",
};
const COUNTY = "410102";
const WHOLE = "/?from=2000-01-01&to=2099-12-31";
const wholePeriod = { from: dayStart("2000-01-01"), to: dayStart("2099-12-31") + DAY };

/// The cards the overview shows for `f`, as the page writes them.
const expectedCards = (f) => ({
  上报问题: String(f.reported),
  其中企业自报: String(f.byEnterprise),
  办结问题: String(f.resolved),
  解决率: pct(f.resolutionRate),
  按期办结率: pct(f.onTimeRate),
  满意率: pct(f.satisfactionRate),
  平均评分: rating(f.averageRating),
  提级督办: String(f.escalated),
  当前超期: String(f.overdue),
  走访次数: String(f.visits),
  走访企业: String(f.enterprisesVisited),
  走访覆盖率: pct(f.coverage),
});

/// A page signed in as `login`, in a context of its own.
async function signedIn(login) {
  const own = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await own.newPage();
  await p.goto(base + "/login");
  await p.fill("input[name=login]", login);
  await p.fill("input[name=password]", "zhuqi2026");
  await p.click("button[type=submit]");
  await p.waitForURL(base + "/");
  return p;
}
/// The province's campaign office, whose rankings hold every county.
let provincePage = null;
const province = async () => (provincePage ??= await signedIn("province"));

/// Checks the overview at `address` on `p`, of the manager's region `root`, for `period`: its cards
/// and its sub-regions' lines against the figures worked out from the database. Returns them.
async function checkOverview(p, root, address, period) {
  await p.goto(base + address);
  const now = Date.now();
  const data = readRelay();
  const f = figuresOf(data, regionUnit(data, root), period, now);
  same(`${address} of ${root}: cards`, await cardsOf(p), expectedCards(f));
  const lines = await tableRows(p.locator("#by-region"));
  const children = data.regions.filter((r) => r.parent_id === root);
  check(lines.length === children.length, `${lines.length} sub-regions listed, ${children.length} in the directory`);
  for (const child of children) {
    const line = lines.find((r) => r["单位"] === child.name);
    check(line, `${child.name} listed`);
    const c = figuresOf(data, regionUnit(data, child.id), period, now);
    same(`${address} of ${root}: ${child.name}`, line, {
      上报: String(c.reported),
      企业自报: String(c.byEnterprise),
      办结: String(c.resolved),
      解决率: pct(c.resolutionRate),
      按期率: pct(c.onTimeRate),
      满意率: pct(c.satisfactionRate),
      平均评分: rating(c.averageRating),
      提级督办: String(c.escalated),
      当前超期: String(c.overdue),
    });
  }
  return f;
}

const thisYear = monthOf(Date.now()).slice(0, 4);
await scenario("the overview's cards equal the figures worked out from the relay's database", async () => {
  const f = await checkOverview(page, COUNTY, WHOLE, wholePeriod);
  check(f.reported > 0 && f.resolved > 0 && f.rated > 0 && f.visits > 0, "demo data to check");
  // A calendar year takes its visits from each enterprise's visits per year.
  await checkOverview(page, COUNTY, `/?year=${thisYear}`, termPeriod(thisYear));
  await checkOverview(await province(), "410000", WHOLE, wholePeriod);
  // The problem list of the same period holds the problems reported in it.
  await page.goto(base + "/problems?from=2000-01-01&to=2099-12-31");
  const total = (await page.locator("p", { hasText: /^共 \d+ 个问题/ }).innerText()).match(/共 (\d+) 个问题/)[1];
  await page.goto(base + WHOLE);
  check(total === (await card("上报问题")), `the list holds ${total}, the overview says ${await card("上报问题")}`);
  await shot("overview");
});

/// A chart of the page: its <svg role="img"> drawn in Chromium with a summary, and its data table.
async function chart(p, figure, summaryStart) {
  const svg = figure.locator("svg[role=img]");
  check((await svg.count()) === 1, `one picture in ${summaryStart}`);
  const label = (await svg.getAttribute("aria-label")) ?? "";
  check(label.trim().length > 0 && label.startsWith(summaryStart), `aria-label "${label}"`);
  check(await svg.isVisible(), `${summaryStart} visible`);
  const box = await svg.boundingBox();
  check(box && box.width > 100 && box.height > 20, `${summaryStart} drawn at ${JSON.stringify(box)}`);
  return { svg, rows: await tableRows(figure.locator("details table")) };
}

await scenario("the overview's charts are drawn and their numbers agree with the page and the database", async () => {
  await page.goto(base + WHOLE);
  const now = Date.now();
  const data = readRelay();
  const county = regionUnit(data, COUNTY);
  const charts = page.locator("figure.chart-box");
  check((await charts.count()) === 5, `${await charts.count()} charts`);

  // The trend: twelve months, each month's rates as counted from the database (the demo's data do
  // not change after a month is published), a point per month with a value.
  const trend = await chart(page, page.locator("figure.rate-trend"), "");
  check(trend.rows.length === 12 && trend.rows[11]["月份"] === monthOf(now), `months ${trend.rows.map((r) => r["月份"])}`);
  for (const row of trend.rows) {
    const f = figuresOf(data, county, termPeriod(row["月份"]), now);
    same(`trend ${row["月份"]}`, row, {
      解决率: pct(f.resolutionRate),
      按期办结率: pct(f.onTimeRate),
      满意率: pct(f.satisfactionRate),
    });
  }
  check(trend.rows.some((r) => r["解决率"] !== "—"), "a month with a resolution rate");
  for (const [series, column] of [["resolution", "解决率"], ["on-time", "按期办结率"], ["satisfaction", "满意率"]]) {
    const points = await trend.svg.locator(`circle.pt.${series}`).count();
    const values = trend.rows.filter((r) => r[column] !== "—").length;
    check(points === values, `${points} ${series} points for ${values} months with a value`);
  }

  // The bars of the sub-regions' and the departments' resolution rates: the tables' 解决率.
  for (const [index, title, table] of [[0, "下级地区解决率", "#by-region"], [1, "责任单位解决率", "#by-department"]]) {
    const bars = await chart(page, page.locator("figure.bars").nth(index), title);
    const lines = await tableRows(page.locator(table));
    check(
      bars.rows.length === lines.length && lines.length > 0,
      `${title}: ${bars.rows.length} bars, ${lines.length} lines`,
    );
    lines.forEach((line, i) => {
      check(bars.rows[i]["名称"] === line["单位"], `${title} bar ${i}: ${bars.rows[i]["名称"]} vs ${line["单位"]}`);
      check(
        bars.rows[i][title] === line["解决率"],
        `${title} of ${line["单位"]}: bar ${bars.rows[i][title]}, table ${line["解决率"]}`,
      );
    });
    // The values written beside the bars, and the bars' lengths in proportion to them.
    const drawn = await bars.svg.locator("g.bar").evaluateAll((gs) =>
      gs.map((g) => ({
        value: g.querySelector("text.val").textContent,
        width: Number(g.querySelector("rect").getAttribute("width")),
      })),
    );
    check(
      drawn.map((d) => d.value).join() === lines.map((l) => l["解决率"]).join(),
      `${title} values drawn ${drawn.map((d) => d.value)}`,
    );
    const values = lines.map((l) => num(l["解决率"]) ?? 0);
    const [maxValue, maxWidth] = [Math.max(...values), Math.max(...drawn.map((d) => d.width))];
    drawn.forEach((d, i) => {
      const expected = maxValue > 0 ? (values[i] / maxValue) * maxWidth : 0;
      check(Math.abs(d.width - expected) <= 1, `${title} bar ${i} ${d.width} px long, ${expected} expected`);
    });
  }

  // Categories: reported in the period and open now, per category, as in the database; the reported
  // add up to the card's.
  const categories = await chart(page, page.locator("figure.category-bars"), "各类问题的上报数与未办结数");
  const expected = {};
  for (const p of data.problems.filter((p) => !VOID.has(p.status) && county.problem(p))) {
    const e = (expected[CATEGORY_ZH[p.category] ?? "其他"] ??= { 上报: 0, 未办结: 0 });
    if (p.reported_at >= wholePeriod.from && p.reported_at < wholePeriod.to) e["上报"]++;
    if (["reported", "accepted", "routed"].includes(p.status)) e["未办结"]++;
  }
  check(categories.rows.length === Object.keys(expected).length, `categories ${categories.rows.map((r) => r["类别"])}`);
  for (const row of categories.rows) {
    const e = expected[row["类别"]];
    check(e, `category ${row["类别"]} in the database`);
    same(`category ${row["类别"]}`, { 上报: num(row["上报"]), 未办结: num(row["未办结"]) }, e);
  }
  const reported = categories.rows.reduce((n, r) => n + num(r["上报"]), 0);
  check(String(reported) === (await card("上报问题")), `categories add up to ${reported}, the card says ${await card("上报问题")}`);
  const pairs = await categories.svg.locator("g.pair title").allTextContents();
  check(
    pairs.join("|") === categories.rows.map((r) => `${r["类别"]}：上报 ${r["上报"]} 个，未办结 ${r["未办结"]} 个`).join("|"),
    `category marks ${pairs.join("|")}`,
  );

  // The ages of overdue problems: as in the database, adding up to the card 当前超期.
  const ages = await chart(page, page.locator("figure.overdue-ages"), "当前超期问题按超期时长分布");
  const buckets = [0, 0, 0, 0];
  for (const p of data.problems.filter((p) => !VOID.has(p.status) && county.problem(p))) {
    const late = overdueFor(p, now);
    if (late != null) buckets[late <= 7 * DAY ? 0 : late <= 30 * DAY ? 1 : late <= 90 * DAY ? 2 : 3]++;
  }
  const shownAges = ages.rows.map((r) => num(r["问题数"]));
  check(shownAges.slice(0, 4).join() === buckets.join(), `overdue ages ${shownAges} vs ${buckets}`);
  check(ages.rows[4]["超期时长"] === "合计" && String(shownAges[4]) === (await card("当前超期")), `total ${shownAges[4]}`);
  const columns = await ages.svg.locator("g.column text.val").allTextContents();
  check(columns.join() === ages.rows.slice(0, 4).map((r) => r["问题数"]).join(), `columns drawn ${columns}`);

  // The tables open under their charts.
  for (const summary of await page.locator("details.chart-data summary").all()) await summary.click();
  check(await page.locator("figure.overdue-ages details table").isVisible(), "a chart's table opens");
  await shot("overview-charts");
});

await scenario("answers recorded at the desk count in the satisfaction rate as defined", async () => {
  // A call-back (回访代确认) rating 3 on one of the county's resolved problems, and a closure
  // without an answer (超时未确认) of another county's, by the province's office: both are answers,
  // neither satisfied, and the call-back's rating counts in the average.
  const before = readRelay();
  const county = figuresOf(before, regionUnit(before, COUNTY), wholePeriod, Date.now());
  const all = figuresOf(before, regionUnit(before, "410000"), wholePeriod, Date.now());
  const resolved = (inCounty) =>
    before.problems.filter((p) => p.status === "resolved" && before.under(p.region_id, COUNTY) === inCounty);
  // The county keeps a resolved problem for the photos' scenario below.
  check(resolved(true).length >= 2 && resolved(false).length >= 1, "resolved problems to answer");
  // The enterprise's time to answer must have passed for the closure: the longest resolved.
  const oldest = resolved(false).sort((a, b) => a.resolved_at - b.resolved_at)[0];
  const [calledBack, unanswered] = [resolved(true).at(-1).id, oldest.id];

  await page.goto(`${base}/problems/${calledBack}`);
  await page.fill("form[action$='/call-back'] input[name=contact]", "企业负责人（电话回访）");
  await page.selectOption("form[action$='/call-back'] select[name=accepted]", "yes");
  await page.selectOption("form[action$='/call-back'] select[name=rating]", "3");
  await page.fill("form[action$='/call-back'] input[name=note]", "企业认可办理结果，但希望更快");
  await Promise.all([page.waitForEvent("load"), page.click("#call-back")]);
  check(page.url() === `${base}/problems/${calledBack}`, `after the call-back at ${page.url()}`);
  const p = await province();
  await p.goto(`${base}/problems/${unanswered}`);
  const days = Number((await p.locator("form[action$='/close-unanswered'] button").innerText()).match(/(\d+)天/)[1]);
  check(oldest.resolved_at + days * DAY < Date.now(), `${unanswered} resolved less than ${days} days ago`);
  await p.fill("form[action$='/close-unanswered'] input[name=note]", "多次联系企业未回复");
  await Promise.all([p.waitForEvent("load"), p.click("form[action$='/close-unanswered'] button")]);
  check(p.url() === `${base}/problems/${unanswered}`, `after the closure at ${p.url()}`);

  const after = readRelay();
  const row = (id) => after.problems.find((x) => x.id === id);
  same(`${calledBack} in the database`, row(calledBack), { status: "confirmed", confirmation: "call_back", rating: 3 });
  same(`${unanswered} in the database`, row(unanswered), { status: "closed", confirmation: "unanswered", rating: null });
  // The satisfaction rate over one more answer (a 3) for the county, two more for the province.
  const c = await checkOverview(page, COUNTY, WHOLE, wholePeriod);
  same("the county's answers", c, { rated: county.rated + 1, unanswered: county.unanswered, satisfied: county.satisfied });
  same("the county's cards", await cardsOf(page), {
    满意率: pct(county.satisfied / (county.rated + county.unanswered + 1)),
    平均评分: rating((county.ratingSum + 3) / (county.rated + 1)),
    办结问题: String(county.resolved),
  });
  const w = await checkOverview(p, "410000", WHOLE, wholePeriod);
  same("the province's answers", w, { rated: all.rated + 1, unanswered: all.unanswered + 1, satisfied: all.satisfied });
  same("the province's cards", await cardsOf(p), {
    满意率: pct(all.satisfied / (all.rated + all.unanswered + 2)),
    平均评分: rating((all.ratingSum + 3) / (all.rated + 1)),
  });
  // This month's point of the trend, counted now, with the call-back among its answers.
  await page.goto(base + WHOLE);
  const month = monthOf(Date.now());
  const trend = await tableRows(page.locator("figure.rate-trend details table"));
  const [mb, m] = [before, after].map((d) => figuresOf(d, regionUnit(d, COUNTY), termPeriod(month), Date.now()));
  same(`the trend's ${month}`, trend.at(-1), { 月份: month, 满意率: pct(m.satisfactionRate), 状态: "实时" });
  same(`${month}'s answers`, m, { rated: mb.rated + 1, satisfied: mb.satisfied });
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

/// Checks one ranking table of `term`: each row's score by the documented formula from the row's
/// own rates, the order and the ranks, and the figures against the database.
function checkRanking(what, rows, expected, published) {
  check(rows.length === expected.length, `${what}: ${rows.length} rows, ${expected.length} units`);
  const scores = rows.map((r) => num(r["得分"]));
  // A row's unit, by its name (departments may be named with their region's: "… 中原区 中原区财政局").
  const unitOf = (row) => expected.find((u) => row["单位"] === u.name || row["单位"].endsWith(` ${u.name}`));
  rows.forEach((row, i) => {
    // 40 × resolution + 25 × on-time + 25 × satisfaction + 10 × coverage, from the rates shown (a
    // missing rate counting as 100%). The rates are shown to 0.1 point and the score to 0.1, so the
    // two agree to 0.1.
    const rate = (column) => num(row[column]) ?? 100;
    const formula = 0.4 * rate("解决率%") + 0.25 * rate("按期率%") + 0.25 * rate("满意率%") + 0.1 * rate("走访覆盖率%");
    check(
      Math.abs(formula - scores[i]) <= 0.1 + 1e-9,
      `${what} ${row["单位"]}: score ${row["得分"]}, its rates give ${formula.toFixed(3)}`,
    );
    // Ordered by score; equal scores share a rank, the next rank skipping as many.
    const rank = num(row["排名"]);
    if (i === 0) check(rank === 1, `${what}: first rank ${rank}`);
    else {
      check(
        scores[i] <= scores[i - 1],
        `${what}: ${row["单位"]} (${scores[i]}) after ${rows[i - 1]["单位"]} (${scores[i - 1]})`,
      );
      // Equal as shown (to 0.1): the same rank, or the next if the exact scores differ (see below).
      const tie = scores[i] === scores[i - 1];
      const ok = rank === i + 1 || (tie && rank === num(rows[i - 1]["排名"]));
      check(
        ok,
        `${what} ${row["单位"]}: rank ${rank} at line ${i + 1} with score ${scores[i]} ` +
          `(line before: rank ${rows[i - 1]["排名"]}, score ${scores[i - 1]})`,
      );
    }
  });
  // Against the database: the unit named on each row, its figures worked out now. A term still open
  // shows them; a published one shows them as published, and a change since in the corrections'
  // columns (none is expected: the demo's data do not change after publication).
  for (const row of rows) {
    const unit = unitOf(row);
    check(unit, `${what}: ${row["单位"]} is a unit of the scope`);
    const f = unit.figures;
    const s = scoreText(score(f, unit.coverage ? f.coverage : null));
    check(
      row["更正后得分"] === "—" && row["更正后排名"] === "—",
      `${what} ${row["单位"]}: corrected to ${row["更正后得分"]} (${row["更正后排名"]}), published ${row["得分"]}; counted now ${s}`,
    );
    same(`${what} ${row["单位"]}${published ? " (published)" : ""}`, row, {
      得分: s,
      上报: String(f.reported),
      办结: String(f.resolved),
      "解决率%": rankRate(f.resolutionRate),
      "按期率%": rankRate(f.onTimeRate),
      "满意率%": rankRate(f.satisfactionRate),
      ...(unit.coverage ? { 走访次数: String(f.visits), "走访覆盖率%": rankRate(f.coverage) } : {}),
    });
  }
  // Units whose exact scores are equal share a rank; others do not.
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]].map(unitOf);
    const [sa, sb] = [a, b].map((u) => score(u.figures, u.coverage ? u.figures.coverage : null));
    const shared = rows[i]["排名"] === rows[i - 1]["排名"];
    check(
      shared === Math.abs(sa - sb) < 1e-9,
      `${what}: ${b.name} (${sb}) rank ${rows[i]["排名"]}, ${a.name} (${sa}) rank ${rows[i - 1]["排名"]}`,
    );
  }
}

await scenario("the rankings of every term with data follow the score formula, by score, ties sharing a rank", async () => {
  const p = await province();
  const data = readRelay();
  const counties = data.regions.filter((r) => r.level === "county");
  check(counties.length >= 2, "two counties at least");
  // The months and years in which problems were reported, resolved or rated, or visits made.
  const months = new Set();
  for (const x of data.problems.filter((x) => !VOID.has(x.status))) {
    for (const t of [x.reported_at, x.resolved_at, x.confirmed_at, x.closed_at]) if (t != null) months.add(monthOf(t));
  }
  for (const v of data.visits) months.add(v.date.slice(0, 7));
  const terms = [...[...months].sort(), ...new Set([...months].map((m) => m.slice(0, 4)))];
  check(terms.length >= 2, `terms ${terms}`);
  for (const term of terms) {
    const kind = term.length === 4 ? "year" : "month";
    await p.goto(`${base}/ranking?${kind}=${term}`);
    const now = Date.now();
    const period = termPeriod(term);
    const published = (await p.locator("p.published").count()) > 0;
    const countyRows = await tableRows(p.locator("#ranking-counties"));
    const expectedCounties = counties.map((c) => ({
      name: c.name,
      coverage: true,
      figures: figuresOf(data, regionUnit(data, c.id), period, now),
    }));
    checkRanking(`${term} counties`, countyRows, expectedCounties, published);
    const measured = (r) => r["上报"] !== "0" || r["办结"] !== "0" || r["满意率%"] !== "—" || r["走访次数"] !== "0";
    check(countyRows.some(measured), `${term}: a county with data`);
    const departmentRows = await tableRows(p.locator("#ranking-departments"));
    const expectedDepartments = data.departments.map((d) => ({
      name: d.name,
      coverage: false,
      figures: figuresOf(data, departmentUnit(d.id), period, now),
    }));
    checkRanking(`${term} departments`, departmentRows, expectedDepartments, published);
    // The score bars: drawn, in the table's order, with its scores.
    for (const [index, title, rows] of [[0, "县区得分", countyRows], [1, "责任单位得分", departmentRows]]) {
      const bars = await chart(p, p.locator("figure.bars").nth(index), title);
      check(
        bars.rows.map((b) => b["名称"]).join() === rows.map((r) => r["单位"]).join(),
        `${term} ${title}: bars in the table's order`,
      );
      bars.rows.forEach((b, i) =>
        check(num(b[title]) === num(rows[i]["得分"]), `${term} ${title} of ${b["名称"]}: ${b[title]}, table ${rows[i]["得分"]}`),
      );
    }
    if (term === terms[0]) await p.screenshot({ path: path.join(artifacts, "ranking-month.png"), fullPage: true });
    if (kind === "year") await p.screenshot({ path: path.join(artifacts, "ranking-year.png"), fullPage: true });
  }
});

await scenario("the problem list's pages, followed by rel=next, hold every problem once, as many as it says", async () => {
  const whole = await province();
  const data = readRelay();
  const county = regionUnit(data, COUNTY);
  const inWholePeriod = (p) => p.reported_at >= wholePeriod.from && p.reported_at < wholePeriod.to;
  for (const [p, address, selects, pages] of [
    [page, "/problems?from=2000-01-01&to=2099-12-31", (x) => county.problem(x) && inWholePeriod(x), 1],
    [whole, "/problems", () => true, 2],
    [whole, "/problems?status=routed", (x) => x.status === "routed", 1],
  ]) {
    await p.goto(base + address);
    const total = Number((await p.locator("p", { hasText: /^共 \d+ 个问题/ }).innerText()).match(/共 (\d+) 个问题/)[1]);
    const ids = [];
    let followed = 0;
    for (;;) {
      const onPage = await p.locator("#problems tbody tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
      check(onPage.length > 0, `${address}: an empty page at ${p.url()}`);
      const said = (await p.locator("p", { hasText: /^共 \d+ 个问题/ }).innerText()).match(/本页 (\d+) 个/);
      check(
        said ? Number(said[1]) === onPage.length : onPage.length === total,
        `${address}: ${onPage.length} rows, the page says ${said?.[0]}`,
      );
      ids.push(...onPage);
      const next = p.locator('a[rel="next"]');
      if ((await next.count()) === 0) break;
      check(++followed < 100, "the pages end");
      const at = p.url();
      await Promise.all([p.waitForURL((u) => u.href !== at), next.click()]);
    }
    check(followed + 1 >= pages, `${address}: ${followed + 1} pages`);
    check(
      new Set(ids).size === ids.length,
      `${address}: ids repeated across pages: ${ids.filter((id, i) => ids.indexOf(id) !== i)}`,
    );
    check(ids.length === total, `${address}: ${ids.length} problems on the pages, 共 ${total}`);
    const expected = data.problems.filter((x) => !VOID.has(x.status) && selects(x)).map((x) => x.id);
    check(total === expected.length, `${address}: 共 ${total}, the database holds ${expected.length}`);
    const missing = expected.filter((id) => !ids.includes(id));
    check(missing.length === 0, `${address}: not listed: ${missing}`);
  }
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
