// otobot dashboard: plain JS, no build step, no CDN. Reads the JSON endpoints every 2 s and redraws.
// Every value is set with textContent (never innerHTML): user names, reasons and audit texts come from files.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(v) { return v === null || v === undefined || v === "" ? "-" : String(v); }

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function fail(err) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = `could not refresh: ${err.message} (retrying)`;
}

function refreshed() {
  document.getElementById("error").hidden = true;
  const u = document.getElementById("updated");
  u.dataset.polls = String(Number(u.dataset.polls) + 1);
  u.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
}

function progress(today, target, pct) {
  const p = Math.max(0, Math.min(100, Number(pct) || 0));
  const bar = el("div", { class: p >= 100 ? "progress done" : "progress", "data-pct": show(pct) },
    el("i"), el("span", {}, el("b", {}, `${show(today)} / ${show(target)}`), `${show(pct)} %`));
  bar.firstChild.style.width = `${p}%`;
  return bar;
}

function waitingText(row) {
  const w = row.waiting;
  if (!w) return null;
  return typeof w === "object" ? (w.text || w.reason) : String(w);
}

function stateCell(row, fix) {
  const state = String(row.state || "-");
  const kind = row.paused ? "paused" : state.startsWith("config") || row.error ? "error" : state;
  const why = row.paused ? `paused: ${row.paused}` : waitingText(row) ? `waiting: ${waitingText(row)}` : null;
  return el("td", {}, el("span", { class: `state ${kind}` }, state),
    why ? el("span", { class: "why" }, why) : null, fix ? el("span", { class: "fix" }, fix) : null);
}

function inventoryCell(row) {
  if ("inventory_own" in row || "inventory_user" in row) {
    return el("td", { class: "num" }, `otobot ${show(row.inventory_own)}`, el("br"), `user ${show(row.inventory_user)}`);
  }
  return el("td", { class: "num" }, show(row.inventory));
}

function card(value, label) { return el("div", { class: "card" }, el("b", {}, show(value)), el("span", {}, label)); }

// ------------------------------------------------------------------ overview

async function pollOverview() {
  const doc = await getJSON("/api/overview");
  document.getElementById("daemon").textContent = `daemon ${doc.daemon}`;
  const t = doc.totals;
  document.getElementById("totals").replaceChildren(
    card(t.users, "users"), card(`${t.today} / ${t.target}`, "volume today / target"),
    card(t["done%"] === null ? "-" : `${t["done%"]} %`, "of all targets"), card(t.cycles, "cycles today"),
    card(t.paused, "paused"), card(t.loss, "cost so far"));
  const rows = doc.users.map((r) => el("tr", { "data-user": r.user },
    el("td", {}, el("a", { href: `/users/${encodeURIComponent(r.user)}` }, r.user)),
    stateCell(r, doc.fixes[r.user]),
    el("td", {}, show(r.token)),
    el("td", {}, progress(r.today, r.target, r["done%"])),
    el("td", { class: "num cycles" }, show(r.cycles)),
    el("td", { class: "num" }, show(r.loss_bps)),
    inventoryCell(r),
    el("td", {}, show(r.last_cycle))));
  rows.push(el("tr", { class: "totals" }, el("td", {}, `${t.users} users`), el("td", {}, ""), el("td", {}, ""),
    el("td", {}, progress(t.today, t.target, t["done%"])), el("td", { class: "num" }, show(t.cycles)),
    el("td", {}, ""), el("td", {}, ""), el("td", {}, "")));
  document.querySelector("#users tbody").replaceChildren(...rows);
}

// ------------------------------------------------------------------ user page

const userName = decodeURIComponent(location.pathname.split("/").pop() || "");
const api = (path) => `/api/users/${encodeURIComponent(userName)}/${path}`;
const openCycles = new Map(); // cycle id -> its detail document, kept open across refreshes

function barChart(doc) {
  const days = doc.days, w = 640, h = 180, pad = 28;
  const target = days.reduce((m, d) => Math.max(m, Number(d.target) || 0), 0);
  const top = Math.max(target, ...days.map((d) => Number(d.volume))) * 1.1 || 1;
  const bw = (w - pad) / days.length;
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h + 20}`, width: "100%", role: "img", id: "days-svg" });
  days.forEach((d, i) => {
    const v = Number(d.volume), bh = (v / top) * h, x = pad + i * bw;
    const rect = svg("rect", { x: x + 2, y: h - bh, width: Math.max(bw - 4, 1), height: bh, class: "day",
      "data-day": d.day, fill: d.reached ? "#1f9d55" : "#3b82f6" });
    rect.append(svg("title", {}, `${d.day}: ${d.volume} of ${show(d.target)}, ${d.cycles} cycles, ${d.points} pts, ` +
      `fees ${d.fees}, cost ${show(d.cost_bps)} bps, ${d.pauses} pauses`));
    chart.append(rect, svg("text", { x: x + bw / 2, y: h + 14, "text-anchor": "middle" }, d.day.slice(5)));
  });
  if (target) {
    const y = h - (target / top) * h;
    chart.append(svg("line", { x1: pad, x2: w, y1: y, y2: y, stroke: "#dc2626", "stroke-dasharray": "4 3" }),
      svg("text", { x: 0, y: y + 3 }, "target"));
  }
  return chart;
}

function priceChart(prices) {
  const w = 900, h = 160;
  if (prices.length < 2) return el("p", { class: "muted" }, "no trades seen yet on this symbol");
  const xs = prices.map((p) => p[0]), ys = prices.map((p) => Number(p[1]));
  const x0 = xs[0], x1 = xs[xs.length - 1] || x0 + 1, lo = Math.min(...ys), hi = Math.max(...ys);
  const span = hi - lo || hi * 0.001 || 1;
  const pts = prices.map((p, i) => `${(((p[0] - x0) / (x1 - x0 || 1)) * (w - 80)).toFixed(1)},` +
    `${(h - ((ys[i] - lo) / span) * h).toFixed(1)}`).join(" ");
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h + 20}`, width: "100%", role: "img", id: "price-svg" });
  chart.append(svg("polyline", { points: pts, fill: "none", stroke: "#3b82f6", "stroke-width": 1.5 }),
    svg("text", { x: w - 75, y: 10 }, prices.find((p) => Number(p[1]) === hi)[1]),
    svg("text", { x: w - 75, y: h }, prices.find((p) => Number(p[1]) === lo)[1]),
    svg("text", { x: 0, y: h + 16 }, new Date(x0).toISOString().slice(11, 19)),
    svg("text", { x: w - 135, y: h + 16 }, `${new Date(x1).toISOString().slice(11, 19)} UTC`));
  return chart;
}

function smallTable(columns, rows, cls) {
  return el("table", { class: cls }, el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...columns.map((c) => el("td", {}, show(r[c])))))));
}

function detailRow(id, doc) {
  return el("tr", { class: "detail", "data-cycle": id }, el("td", { colSpan: 12 },
    el("b", {}, "orders"), smallTable(["time", "role", "order_id", "side", "price", "qty", "filled", "quote", "fee",
      "fee_asset", "status"], doc.orders, "orders"),
    el("b", {}, "fills"), doc.fills.length
      ? smallTable(["time", "order_id", "side", "price", "qty", "quote", "fee", "fee_asset", "source"], doc.fills, "fills")
      : el("p", { class: "muted" }, "no fills recorded")));
}

async function toggleCycle(id) {
  if (openCycles.has(id)) openCycles.delete(id);
  else openCycles.set(id, await getJSON(api(`cycles/${id}`)));
  await pollCycles();
}

async function pollCycles() {
  const cycles = await getJSON(api("cycles"));
  for (const id of openCycles.keys()) {
    const c = cycles.find((r) => r.cycle === id);
    if (c && c.state !== openCycles.get(id).cycle.state) openCycles.set(id, await getJSON(api(`cycles/${id}`)));
  }
  const rows = [];
  for (const c of cycles) {
    const cols = [c.cycle, c.time, c.kind === "oto" ? c.state : `${c.kind} ${c.state}`, c.buy_price, c.bought,
      c.buy_quote, c.sell_price, c.sold, c.sell_quote, c.fees, c.cost_bps, c.orders];
    const tr = el("tr", { class: "cycle", "data-cycle": c.cycle, title: c.reason || "" },
      ...cols.map((v, i) => el("td", { class: i > 2 ? "num" : null }, show(v))));
    tr.addEventListener("click", () => toggleCycle(c.cycle).catch(fail));
    rows.push(tr);
    if (openCycles.has(c.cycle)) rows.push(detailRow(c.cycle, openCycles.get(c.cycle)));
  }
  document.querySelector("#cycles tbody").replaceChildren(...rows);
}

async function pollStatus() {
  const doc = await getJSON("/api/overview");
  const r = doc.users.find((u) => u.user === userName);
  if (!r) throw new Error(`no user ${userName}`);
  const why = r.paused ? `paused: ${r.paused}` : waitingText(r) ? `waiting: ${waitingText(r)}` : "";
  document.getElementById("status").replaceChildren(
    el("div", { class: "card", id: "user-state" }, el("b", {}, show(r.state)), el("span", {}, why || "state"),
      doc.fixes[userName] ? el("span", { class: "fix" }, doc.fixes[userName]) : null),
    el("div", { class: "card" }, progress(r.today, r.target, r["done%"]), el("span", {}, "today / target")),
    card(r.cycles, "cycles today"), card(r.loss_bps, "cost bps"),
    "inventory_own" in r ? card(`${show(r.inventory_own)} / ${show(r.inventory_user)}`, "inventory otobot / user")
      : card(r.inventory, "inventory"), card(r.last_cycle, "last cycle (UTC)"));
}

async function pollHistory() {
  document.getElementById("days-chart").replaceChildren(barChart(await getJSON(api("history"))));
}

async function pollMarket() {
  const doc = await getJSON(api("market"));
  document.getElementById("price-symbol").textContent = show(doc.symbol);
  document.getElementById("price-chart").replaceChildren(priceChart(doc.prices));
  const t = doc.token || {};
  const items = [["token", t.symbol], ["alpha id", t.alpha_id], ["pair", t.pair], ["tick", t.tick], ["step", t.step],
    ["min qty", t.min_qty], ["min notional", t.min_notional], ["mulPoint", t.mulPoint], ["tradable", t.tradable],
    ["last price", doc.prices.length ? doc.prices[doc.prices.length - 1][1] : null]];
  document.getElementById("token").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, show(v))]));
}

async function pollAudit() {
  const rows = (await getJSON(api("audit"))).slice().reverse();
  const body = rows.map((e) => el("tr", {},
    el("td", {}, e.time), el("td", {}, e.kind), el("td", {}, e.text), el("td", {}, show(e.cycle))));
  if (!body.length) body.push(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "no pauses, resumes, reloads, " +
    "adoptions or strays recorded")));
  document.querySelector("#audit tbody").replaceChildren(...body);
}

// ------------------------------------------------------------------ the loop

async function tick(page, n) {
  if (page === "overview") {
    await pollOverview();
  } else {
    const work = [pollStatus(), pollCycles(), pollHistory()];
    if (n % 3 === 0) work.push(pollMarket());
    if (n % 5 === 0) work.push(pollAudit());
    await Promise.all(work);
  }
  refreshed();
}

function start() {
  const page = document.body.dataset.page;
  if (page === "user") {
    document.getElementById("user-name").textContent = userName;
    document.title = `otobot: ${userName}`;
  }
  getJSON("/api/paper").then((doc) => {
    const banner = document.getElementById("paper");
    banner.textContent = doc.paper || "";
    banner.hidden = !doc.paper;
  }).catch(fail);
  let n = 0;
  const loop = () => tick(page, n++).catch(fail).finally(() => setTimeout(loop, POLL_MS));
  loop();
}

document.addEventListener("DOMContentLoaded", start);
