// Drives Debian's Chromium (headless, fresh profile) through the views of
// coco server's web page: for each view, load it, wait for a selector,
// check the texts it must show, save a screenshot. Prints one JSON line per
// view: { name, ok, missing, text, requests_elsewhere, console_errors }.
//   node shoot.js BASE_URL OUT_DIR PLAN_JSON
// PLAN_JSON: [{ name, path, wait, expect: [text...], click: selector? }]
"use strict";
const puppeteer = require("puppeteer-core");
const fs = require("fs");
const path = require("path");
const os = require("os");

async function main() {
  const [base, outDir, planJson] = process.argv.slice(2);
  const plan = JSON.parse(planJson);
  fs.mkdirSync(outDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "coco-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      `--user-data-dir=${profile}`, "--window-size=1280,900"],
  });
  try {
    for (const v of plan) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const elsewhere = [], consoleErrors = [];
      page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) elsewhere.push(r.url()); });
      page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      const res = { name: v.name, ok: false, missing: [], text: "" };
      try {
        await page.goto(base + v.path, { waitUntil: "domcontentloaded", timeout: 60000 });
        await page.waitForSelector(v.wait, { timeout: 60000 });
        if (v.click) { await page.click(v.click); await new Promise((r) => setTimeout(r, 200)); }
        // the texts may arrive with the data: wait for them (generous deadline)
        const deadline = Date.now() + 60000;
        for (;;) {
          res.text = await page.$eval("main", (m) => m.innerText);
          res.missing = (v.expect || []).filter((t) => !res.text.includes(t));
          if (!res.missing.length || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        await page.screenshot({ path: path.join(outDir, `${v.name}.png`), fullPage: !!v.full });
        res.ok = res.missing.length === 0;
      } catch (e) {
        res.error = String(e);
      }
      res.requests_elsewhere = elsewhere;
      res.console_errors = consoleErrors;
      res.text = res.text.slice(0, 2000);
      process.stdout.write(JSON.stringify(res) + "\n");
      await page.close();
    }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
