// attnlab explorer: model picker, text box, interactive SVG heatmap of attention weights (no libraries).
"use strict";

const I18N = {
  en: {
    title: "attnlab · attention explorer", model: "Model", text: "Text", submit: "Show attention",
    output: "Model output", kind: "Attention", layer: "Layer", head: "Head", average: "average of heads",
    hint: "Rows are queries, columns are keys; each row sums to 1. Hover a cell.",
    footer: "Runs on this machine; nothing is sent anywhere else.", other: "中文",
    running: "Running… (a demo model is trained once on first use: up to ~30 s)", done: "Done.",
    failed: "Failed.", query: "query", key: "key", weight: "weight", max: "max weight",
    noattention: "This model returns no attention weights.",
    kinds: { encoder: "encoder self-attention", decoder: "decoder self-attention",
             cross: "cross-attention (decoder → encoder)", pooling: "attention pooling" },
  },
  zh: {
    title: "attnlab · 注意力浏览器", model: "模型", text: "文本", submit: "查看注意力",
    output: "模型输出", kind: "注意力", layer: "层", head: "头", average: "所有头的平均",
    hint: "行是查询（query），列是键（key）；每行之和为 1。把鼠标移到格子上查看数值。",
    footer: "只在本机运行，不向任何地方发送数据。", other: "English",
    running: "运行中……（演示模型首次使用时训练一次，最多约 30 秒）", done: "完成。",
    failed: "出错了。", query: "查询", key: "键", weight: "权重", max: "最大权重",
    noattention: "这个模型不返回注意力权重。",
    kinds: { encoder: "编码器自注意力", decoder: "解码器自注意力",
             cross: "交叉注意力（解码器 → 编码器）", pooling: "注意力池化" },
  },
};
const KIND_ORDER = ["cross", "encoder", "decoder", "pooling"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { lang: "en", models: [], data: null, statusKey: "", example: "" };

function t(key) { return I18N[state.lang][key]; }

function setLang(lang) {
  state.lang = lang;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("other");
  if (state.statusKey) $("status").textContent = t(state.statusKey);
  try { localStorage.setItem("attnlab-lang", lang); } catch (e) { /* private mode */ }
  if (state.data) fillControls(true);
}

function setStatus(key) { state.statusKey = key; $("status").textContent = key ? t(key) : ""; }

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function loadModels() {
  const reply = await fetch("/api/models");
  const data = await reply.json();
  state.models = data.models;
  $("text").maxLength = 4 * data.max_tokens + 64;
  const select = $("model");
  for (const m of data.models) {
    const opt = document.createElement("option");
    opt.value = m.name; opt.textContent = m.name; opt.title = m.description;
    select.append(opt);
  }
  modelChanged();
}

function modelChanged() {
  // A new model's example replaces the text box only when it holds nothing or the previous example.
  const m = state.models.find((x) => x.name === $("model").value);
  $("model-desc").textContent = m ? m.description : "";
  const box = $("text");
  if (m && m.example && (!box.value || box.value === state.example)) {
    box.value = m.example;
    state.example = m.example;
  }
}

async function submit(event) {
  event.preventDefault();
  showError("");
  setStatus("running");
  $("submit").disabled = true;
  try {
    const reply = await fetch("/api/inspect", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: $("model").value, text: $("text").value }),
    });
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error || `HTTP ${reply.status}`);
    state.data = data;
    $("output").textContent = data.output;
    $("result").hidden = false;
    fillControls(false);
    setStatus("done");
  } catch (err) {
    showError(err.message);
    setStatus("failed");
  } finally {
    $("submit").disabled = false;
  }
}

function option(select, value, label) {
  const opt = document.createElement("option");
  opt.value = value; opt.textContent = label;
  select.append(opt);
}

function fillControls(keep) {
  const maps = state.data.attentions;
  const kinds = KIND_ORDER.filter((k) => k in maps).concat(Object.keys(maps).filter((k) => !KIND_ORDER.includes(k)));
  const old = { kind: $("kind").value, layer: $("layer").value, head: $("head").value };
  $("kind").replaceChildren();
  for (const k of kinds) option($("kind"), k, t("kinds")[k] || k);
  if (keep && kinds.includes(old.kind)) $("kind").value = old.kind;
  kindChanged(keep ? old : null);
}

function kindChanged(old) {
  const map = state.data.attentions[$("kind").value];
  if (!map) { drawEmpty(); return; }
  const [layers, heads] = map.shape;
  $("layer").replaceChildren();
  for (let i = 0; i < layers; i++) option($("layer"), String(i), String(i));
  $("layer").value = old && old.layer !== "" && Number(old.layer) < layers ? old.layer : String(layers - 1);
  $("head").replaceChildren();
  option($("head"), "avg", t("average"));
  for (let i = 0; i < heads; i++) option($("head"), String(i), String(i));
  $("head").value = old && (old.head === "avg" || Number(old.head) < heads) ? old.head : "avg";
  draw();
}

function matrix(map, layer, head) {
  const heads = map.weights[layer];
  if (head !== "avg") return heads[Number(head)];
  return heads[0].map((row, i) => row.map((_, j) => heads.reduce((s, h) => s + h[i][j], 0) / heads.length));
}

function color(x) {
  const p = Math.max(0, Math.min(1, x)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(p));
  const f = p - i;
  const c = VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function textWidth(s) {
  let w = 0;
  for (const ch of s) w += /[\u2e80-\uffef]/.test(ch) ? 14 : 8;
  return w;
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawEmpty() {
  const svg = $("heatmap");
  svg.replaceChildren(svgEl("text", { x: 10, y: 24 }, t("noattention")));
  svg.setAttribute("width", 400); svg.setAttribute("height", 40);
  svg.dataset.ready = "1";
}

function draw() {
  const map = state.data.attentions[$("kind").value];
  const w = matrix(map, Number($("layer").value), $("head").value);
  const rows = map.query_tokens, cols = map.key_tokens;
  const cell = Math.max(10, Math.min(28, Math.floor(640 / Math.max(rows.length, cols.length))));
  const left = 12 + Math.max(...rows.map(textWidth));
  const upright = Math.max(...cols.map(textWidth)) <= cell;  // e.g. single Chinese characters
  const top = upright ? 22 : 16 + 0.75 * Math.max(...cols.map(textWidth));
  const vmax = Math.max(1e-9, ...w.flat());
  const svg = $("heatmap");
  svg.replaceChildren();
  svg.dataset.ready = "";
  svg.setAttribute("width", left + cols.length * cell + 120);
  svg.setAttribute("height", top + Math.max(rows.length * cell, 110) + 10);  // room for the colour scale
  svg.setAttribute("aria-label", `${$("kind").selectedOptions[0].textContent} ${rows.length}×${cols.length}`);
  cols.forEach((tok, j) => {
    const x = left + j * cell + cell / 2, y = top - 6;
    const place = upright ? { "text-anchor": "middle" } : { transform: `rotate(-50 ${x} ${y})` };
    svg.append(svgEl("text", { class: "klabel", "data-j": j, x, y, ...place }, tok));
  });
  rows.forEach((tok, i) => {
    svg.append(svgEl("text", { class: "qlabel", "data-i": i, x: left - 6, y: top + i * cell + cell / 2 + 4,
                                "text-anchor": "end" }, tok));
    w[i].forEach((v, j) => {
      svg.append(svgEl("rect", { class: "cell", "data-i": i, "data-j": j, x: left + j * cell, y: top + i * cell,
                                  width: cell, height: cell, fill: color(v / vmax) }));
    });
  });
  const lx = left + cols.length * cell + 16;
  for (let k = 0; k <= 10; k++) {
    svg.append(svgEl("rect", { x: lx, y: top + (10 - k) * 10, width: 14, height: 10, fill: color(k / 10) }));
  }
  svg.append(svgEl("text", { x: lx + 20, y: top + 10 }, vmax.toFixed(3)));
  svg.append(svgEl("text", { x: lx + 20, y: top + 110 }, "0"));
  svg.dataset.ready = "1";
  svg.onmouseover = (e) => hover(e, rows, cols, w);
  svg.onmouseleave = () => { $("tooltip").hidden = true; highlight(-1, -1); };
}

function highlight(i, j) {
  for (const el of $("heatmap").querySelectorAll("text.active")) el.classList.remove("active");
  if (i < 0) return;
  $("heatmap").querySelector(`text.qlabel[data-i="${i}"]`)?.classList.add("active");
  $("heatmap").querySelector(`text.klabel[data-j="${j}"]`)?.classList.add("active");
}

function hover(e, rows, cols, w) {
  const d = e.target.dataset;
  if (!e.target.classList.contains("cell")) return;
  const i = Number(d.i), j = Number(d.j);
  highlight(i, j);
  const tip = $("tooltip");
  tip.textContent = `${t("query")} ${rows[i]} → ${t("key")} ${cols[j]}: ${t("weight")} ${w[i][j].toFixed(4)}`;
  const box = $("heatmap-wrap").getBoundingClientRect();
  tip.style.left = `${e.clientX - box.left + 14}px`;
  tip.style.top = `${e.clientY - box.top + 14}px`;
  tip.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  let lang = "en";
  try { lang = localStorage.getItem("attnlab-lang") || (navigator.language.startsWith("zh") ? "zh" : "en"); }
  catch (e) { /* no storage */ }
  setLang(lang === "zh" ? "zh" : "en");
  $("lang").addEventListener("click", () => setLang(state.lang === "en" ? "zh" : "en"));
  $("model").addEventListener("change", modelChanged);
  $("form").addEventListener("submit", submit);
  $("kind").addEventListener("change", () => kindChanged(null));
  $("layer").addEventListener("change", draw);
  $("head").addEventListener("change", draw);
  loadModels().catch((err) => showError(err.message));
});
