"use strict";
// Page 1: the convolution explainer. The server runs our conv2d; this draws the numbers and the window under the mouse.

const conv = { data: null, cell: 1, hover: null };
const KERNELS = { vertical: "vertical edges", horizontal: "horizontal edges", sobel: "Sobel (vertical)", sobel_y: "Sobel (horizontal)",
                  scharr: "Scharr (vertical)", scharr_y: "Scharr (horizontal)", custom: "custom (type below)" };

function kernelInputs() { return $$("#conv-kernel input"); }

async function runConv() {
  const form = $("#conv-form");
  const data = formData(form);
  data.set("kernel_values", kernelInputs().map((i) => i.value).join(" "));
  try { conv.data = await postForm("/api/conv", data); } catch (exc) { return; }
  conv.hover = null;
  const d = conv.data;
  if (form.kernel.value !== "custom") kernelInputs().forEach((input, k) => { input.value = d.kernel[Math.floor(k / 3)][k % 3]; });
  $("#conv-in-shape").textContent = `${d.input.h}×${d.input.w}`;
  $("#conv-out-shape").textContent = `${d.output.h}×${d.output.w}`;
  const formulas = $("#conv-formulas");
  formulas.innerHTML = "";
  formulas.append(el("div", { class: "muted", text: "out = ⌊(n + padding − kernel) / stride⌋ + 1" }));
  d.formulas.forEach((f) => formulas.append(el("div", { text: f.text })));
  const poolFig = $("#conv-pool-fig");
  poolFig.classList.toggle("hidden", !d.pooled);
  if (d.pooled) {
    $("#conv-pooled").src = d.pooled.png;
    $("#conv-pool-shape").textContent = `${d.pooled.h}×${d.pooled.w} (${d.pooled.kind} 2×2, stride 2)`;
    formulas.append(el("div", { class: "muted", text: "after 2×2 pooling with stride 2:" }));
    d.pooled.formulas.forEach((f) => formulas.append(el("div", { text: f.text })));
  }
  const outImage = new Image();
  outImage.onload = () => { conv.outImage = outImage; drawConv(); };
  outImage.src = d.output.png;
  drawConv();
  $("#conv-dot").textContent = "Hover the output map.";
}

function drawConv() {
  const d = conv.data;
  if (!d) return;
  const canvas = $("#conv-input");
  const ctx = canvas.getContext("2d");
  const PH = d.input.h + d.pad.top + d.pad.bottom, PW = d.input.w + d.pad.left + d.pad.right;
  conv.cell = Math.max(1, Math.floor(320 / Math.max(PH, PW)));
  canvas.width = PW * conv.cell; canvas.height = PH * conv.cell;
  ctx.fillStyle = "#f3e6c4"; ctx.fillRect(0, 0, canvas.width, canvas.height);   // the zero padding
  const pixels = ctx.createImageData(d.input.w, d.input.h);
  d.input.values.forEach((row, i) => row.forEach((v, j) => {
    const k = 4 * (i * d.input.w + j), g = Math.round(255 * v);
    pixels.data[k] = pixels.data[k + 1] = pixels.data[k + 2] = g; pixels.data[k + 3] = 255;
  }));
  const tmp = el("canvas"); tmp.width = d.input.w; tmp.height = d.input.h; tmp.getContext("2d").putImageData(pixels, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, d.pad.left * conv.cell, d.pad.top * conv.cell, d.input.w * conv.cell, d.input.h * conv.cell);
  const out = $("#conv-output"), octx = out.getContext("2d");
  const ocell = Math.max(1, Math.floor(320 / Math.max(d.output.h, d.output.w)));
  out.width = d.output.w * ocell; out.height = d.output.h * ocell; conv.ocell = ocell;
  octx.imageSmoothingEnabled = false;
  if (conv.outImage) octx.drawImage(conv.outImage, 0, 0, out.width, out.height);
  if (conv.hover) {
    const [i, j] = conv.hover;
    ctx.strokeStyle = "#e0312b"; ctx.lineWidth = 2;
    ctx.strokeRect(j * d.stride * conv.cell, i * d.stride * conv.cell, 3 * conv.cell, 3 * conv.cell);
    octx.strokeStyle = "#e0312b"; octx.lineWidth = 2; octx.strokeRect(j * ocell, i * ocell, ocell, ocell);
  }
}

function fmt(v) { return String(Math.round(v * 1000) / 1000); }

function showDot(i, j) {
  const d = conv.data;
  const table = (cells) => el("table", {}, cells.map((row) => el("tr", {}, row.map((c) => el("td", { class: c.pad ? "pad" : "", text: c.text })))));
  const windowCells = [], products = [];
  let sum = 0;
  for (let a = 0; a < 3; a++) {
    windowCells.push([]); products.push([]);
    for (let b = 0; b < 3; b++) {
      const r = i * d.stride + a - d.pad.top, c = j * d.stride + b - d.pad.left;
      const inside = r >= 0 && c >= 0 && r < d.input.h && c < d.input.w;
      const v = inside ? d.input.values[r][c] : 0;
      const p = v * d.kernel[a][b];
      sum += p;
      windowCells[a].push({ text: fmt(v), pad: !inside });
      products[a].push({ text: fmt(p), pad: !inside });
    }
  }
  const kernel = d.kernel.map((row) => row.map((v) => ({ text: fmt(v) })));
  const box = $("#conv-dot");
  box.innerHTML = "";
  box.append(el("div", { class: "muted", text: `output (${i}, ${j}) reads input rows ${i * d.stride - d.pad.top}…${i * d.stride - d.pad.top + 2}, columns ${j * d.stride - d.pad.left}…${j * d.stride - d.pad.left + 2} (shaded cells are padding zeros)` }));
  box.append(el("div", {}, [table(windowCells), el("span", { class: "op", text: "⊙" }), table(kernel), el("span", { class: "op", text: "→" }), table(products)]));
  box.append(el("div", { class: "sum", text: `sum of the products = ${sum.toFixed(4)};  our conv2d gave ${d.output.values[i][j].toFixed(4)}` }));
}

META.ready.then(() => {
  const form = $("#conv-form");
  for (const name of META.kernels.concat(["custom"])) form.kernel.append(el("option", { value: name, text: KERNELS[name] || name }));
  form.kernel.value = "sobel";
  for (let k = 0; k < 9; k++) $("#conv-kernel").append(el("input", { type: "text", inputmode: "decimal", "aria-label": `kernel ${Math.floor(k / 3)},${k % 3}` }));
  kernelInputs().forEach((input) => input.addEventListener("change", () => { form.kernel.value = "custom"; runConv(); }));
  form.addEventListener("change", (event) => { if (!event.target.closest("#conv-kernel")) runConv(); });
  form.addEventListener("picked", runConv);
  const out = $("#conv-output");
  out.addEventListener("mousemove", (event) => {
    if (!conv.data) return;
    const rect = out.getBoundingClientRect();
    const scale = out.width / rect.width;
    const i = Math.floor((event.clientY - rect.top) * scale / conv.ocell), j = Math.floor((event.clientX - rect.left) * scale / conv.ocell);
    if (i < 0 || j < 0 || i >= conv.data.output.h || j >= conv.data.output.w) return;
    if (conv.hover && conv.hover[0] === i && conv.hover[1] === j) return;
    conv.hover = [i, j];
    drawConv(); showDot(i, j);
  });
  runConv();
});
