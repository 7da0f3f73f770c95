"use strict";
// Shared helpers of the playground: requests with errors shown on the page, image pickers, job polling, charts.

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
const META = { ready: null };

function showError(message) {
  const box = $("#error");
  $("span", box).textContent = message;
  box.classList.remove("hidden");
}
function clearError() { $("#error").classList.add("hidden"); }

async function request(url, options = {}) {
  // Every answer is JSON; an answer with "error" is shown in the banner and rejects.
  let response, body;
  try {
    response = await fetch(url, options);
    body = await response.json();
  } catch (exc) {
    const message = response ? `${url}: the server answered ${response.status} without JSON` : `cannot reach the server (${exc.message})`;
    showError(message);
    throw new Error(message);
  }
  if (!response.ok || body.error) {
    showError(body.error || `${url}: status ${response.status}`);
    throw new Error(body.error);
  }
  clearError();
  return body;
}
const getJSON = (url) => request(url);
const postJSON = (url, body) => request(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const postForm = (url, form) => request(url, { method: "POST", body: form });

async function busy(button, work) {
  // Disable a button while its request runs; errors are already on the page.
  button.disabled = true;
  button.classList.add("busy");
  try { return await work(); } catch (exc) { return null; } finally { button.disabled = false; button.classList.remove("busy"); }
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value; else if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) node.append(child);
  return node;
}

function buildPicker(box) {
  // A picture input: a sample photo from a list, or an uploaded file (which wins while chosen).
  const field = box.dataset.field;
  const thumb = el("img", { class: "thumb", alt: "" });
  const select = el("select", { name: `${field}_sample`, "aria-label": `${field} sample` });
  for (const name of META.samples) select.append(el("option", { value: name, text: name.replace(/_/g, " ") }));
  select.value = box.dataset.default || META.samples[0];
  const file = el("input", { type: "file", accept: "image/*", name: field, "aria-label": `${field} upload` });
  const title = el("div", { class: "title", text: box.dataset.label || "Picture" });
  const sampleThumb = () => { thumb.src = `/api/samples/${select.value}`; };
  select.addEventListener("change", () => { file.value = ""; sampleThumb(); box.dispatchEvent(new Event("picked", { bubbles: true })); });
  file.addEventListener("change", () => {
    if (file.files.length) thumb.src = URL.createObjectURL(file.files[0]); else sampleThumb();
    box.dispatchEvent(new Event("picked", { bubbles: true }));
  });
  thumb.onerror = () => { thumb.removeAttribute("src"); };
  box.append(thumb, title, select, file);
  sampleThumb();
}

function pickerData(root, form = new FormData()) {
  // Add each picker of `root` to a FormData: the file if one is chosen, else the sample's name.
  for (const box of $$(".picker", root)) {
    const field = box.dataset.field;
    const file = $("input[type=file]", box);
    if (file.files.length) form.append(field, file.files[0]); else form.append(`${field}_sample`, $("select", box).value);
  }
  return form;
}

function formData(formNode) {
  // The form's own fields (not the pickers' inputs) plus its pickers.
  const data = new FormData();
  for (const input of $$("select, input", formNode)) {
    if (!input.name || input.closest(".picker") || input.type === "file") continue;
    data.append(input.name, input.value);
  }
  return pickerData(formNode, data);
}

function bindRangeOutputs(root = document) {
  for (const range of $$("input[type=range]", root)) {
    const output = range.parentElement.querySelector("output");
    if (!output) continue;
    const show = () => { output.textContent = range.value; };
    range.addEventListener("input", show);
    show();
  }
}

function fillSelect(select, items, empty) {
  // Options from [{id, label}]; a disabled placeholder when there are none.
  const previous = select.value;
  select.innerHTML = "";
  if (!items.length) select.append(el("option", { value: "", text: empty, disabled: "" }));
  for (const item of items) select.append(el("option", { value: item.id, text: item.label }));
  if (items.some((item) => item.id === previous)) select.value = previous;
}

function bars(items) {
  // Labelled probability bars, e.g. a prediction.
  const box = el("div", { class: "bars" });
  for (const item of items) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * item.probability).toFixed(1)}%`;
    box.append(el("div", { text: item.label }), el("div", { class: "track" }, fill), el("div", { class: "value", text: `${(100 * item.probability).toFixed(1)}%` }));
  }
  return box;
}

function renderJob(box, job) {
  // A job's progress bar and message.
  $(".bar div", box).style.width = `${Math.round(100 * (job.progress || 0))}%`;
  let text = job.message;
  if (job.state === "queued") text = `queued: number ${job.position} in line`;
  if (job.state === "failed") text = `failed: ${job.error}`;
  $("p", box).textContent = `${text}${job.elapsed ? ` · ${job.elapsed.toFixed(1)} s` : ""}`;
  $("p", box).className = job.state === "failed" ? "" : "muted";
}

function renderQueue(list, jobs) {
  list.innerHTML = "";
  if (!jobs.length) list.append(el("li", { class: "muted", text: "empty" }));
  for (const job of jobs.slice(0, 8)) {
    list.append(el("li", {}, [el("span", { text: `#${job.id} ${job.label}` }), el("span", { class: `state ${job.state}`, text: job.state })]));
  }
}

function followJob(id, onUpdate, interval = 700) {
  // Poll a job until it ends; onUpdate(job) after every answer.
  return new Promise((resolve) => {
    const tick = async () => {
      let job;
      try { job = await getJSON(`/api/jobs/${id}`); } catch (exc) { resolve(null); return; }
      onUpdate(job);
      if (["done", "failed", "cancelled"].includes(job.state)) resolve(job); else setTimeout(tick, interval);
    };
    tick();
  });
}

function lineChart(canvas, title, series, yRange) {
  // Curves on a canvas: series = [{name, values, color}], x = epoch 1..n.
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, left = 46, right = 12, top = 26, bottom = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "#1d2433"; ctx.font = "600 13px system-ui"; ctx.fillText(title, left, 16);
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && isFinite(v)));
  const n = Math.max(2, ...series.map((s) => s.values.length));
  let [lo, hi] = yRange || [Math.min(...all), Math.max(...all)];
  if (!all.length) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const x = (i) => left + (W - left - right) * (i / (n - 1));
  const y = (v) => top + (H - top - bottom) * (1 - (v - lo) / (hi - lo));
  ctx.strokeStyle = "#e4e8ef"; ctx.fillStyle = "#6b7485"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(W - right, y(v)); ctx.stroke();
    ctx.fillText(v.toFixed(hi - lo < 0.1 ? 3 : 2), 4, y(v) + 4);
  }
  ctx.fillText("epoch", W - right - 34, H - 8);
  for (let i = 0; i < n; i += Math.max(1, Math.ceil(n / 10))) ctx.fillText(String(i + 1), x(i) - 3, H - 14);
  let legend = left;
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    s.values.forEach((v, i) => { if (v !== null) (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))); });
    ctx.stroke();
    s.values.forEach((v, i) => { if (v !== null) { ctx.beginPath(); ctx.arc(x(i), y(v), 2.5, 0, 7); ctx.fill(); } });
    ctx.font = "12px system-ui"; ctx.fillRect(legend + 150, 8, 10, 3); ctx.fillText(s.name, legend + 164, 14);
    legend += 90;
  }
}

function showTab(name) {
  $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  $$(".page").forEach((p) => p.classList.toggle("active", p.id === name));
  document.dispatchEvent(new CustomEvent("tab", { detail: name }));
}

META.ready = (async () => {
  Object.assign(META, await getJSON("/api/meta"));
  $$(".picker").forEach(buildPicker);
  bindRangeOutputs();
  $$("#tabs button").forEach((b) => b.addEventListener("click", () => { showTab(b.dataset.tab); location.hash = b.dataset.tab; }));
  $("#error button").addEventListener("click", clearError);
  if (location.hash.length > 1 && $(`#tabs button[data-tab="${location.hash.slice(1)}"]`)) showTab(location.hash.slice(1));
  return META;
})();
