"use strict";
// Page 2: the model explorer: summary table, per-layer activation maps, prediction, top-9 patches of a unit.

function modelOptions() {
  return META.models.classify.map((m) => ({ id: m.id, label: `checkpoint: ${m.label}` })).concat(META.models.zoo);
}

async function loadSummary() {
  const model = $("#explorer-model").value;
  let s;
  try { s = await postJSON("/api/explorer/summary", { model }); } catch (exc) { return; }
  const table = $("#explorer-summary");
  table.className = "grid";
  table.innerHTML = "";
  table.append(el("tr", {}, ["Layer", "Type", "Output shape", "Parameters", "Multiply-adds"].map((h, k) => el("th", { class: k > 2 ? "num" : "", text: h }))));
  for (const r of s.rows) {
    table.append(el("tr", { "data-layer": r.name }, [el("td", { text: r.name }), el("td", { text: r.type }), el("td", { text: `(${r.output_shape.join(", ")})` }),
      el("td", { class: "num", text: r.params.toLocaleString("en") }), el("td", { class: "num", text: r.macs.toLocaleString("en") })]));
  }
  $("#explorer-totals").textContent = `input ${s.input_shape.join("×")} · ${s.total_params.toLocaleString("en")} parameters · ${s.macs.toLocaleString("en")} multiply-adds per image`;
  const layer = $("#explorer-layer");
  layer.innerHTML = "";
  for (const name of s.patch_layers) layer.append(el("option", { value: name, text: name }));
}

async function showActivations() {
  const data = pickerData($("#explorer-form"));
  data.append("model", $("#explorer-model").value);
  const result = await postForm("/api/explorer/activations", data);
  const prediction = $("#explorer-prediction");
  prediction.innerHTML = "";
  if (result.prediction) {
    if (!result.trained) prediction.append(el("p", { class: "muted", text: "An untrained zoo model: these probabilities are noise. Pick a checkpoint for a real prediction." }));
    prediction.append(bars(result.prediction));
  } else prediction.textContent = "This model's output is not a class vector (a detector, an embedding or feature taps).";
  const maps = $("#explorer-layers");
  maps.innerHTML = "";
  maps.append(el("div", { class: "card" }, [el("div", { class: "name", text: "input" }), el("div", { class: "shape", text: "as the model sees it" }), el("img", { src: result.input, alt: "input", class: "input" })]));
  for (const layer of result.layers) {
    if (!layer.png) continue;
    const shown = layer.channels_shown < layer.shape[2] ? ` · first ${layer.channels_shown} of ${layer.shape[2]} channels` : "";
    maps.append(el("div", { class: "card" }, [el("div", { class: "name", text: `${layer.name} (${layer.type})` }),
      el("div", { class: "shape", text: `${layer.shape.join("×")}${shown}` }), el("img", { src: layer.png, alt: `activations of ${layer.name}` })]));
  }
}

async function showPatches() {
  const body = { model: $("#explorer-model").value, layer: $("#explorer-layer").value, unit: Number($("#explorer-unit").value) };
  const result = await postJSON("/api/explorer/patches", body);
  const out = $("#explorer-patch-out");
  out.innerHTML = "";
  out.append(el("img", { class: "result-image", src: result.png, alt: "top-9 patches" }),
    el("p", { class: "muted", text: `unit ${result.unit} of ${result.channels} in ${result.layer}; receptive field ${result.field}×${result.field}; ${result.searched} pictures searched; strongest ${result.values[0]}` }));
}

function refreshModels() {
  fillSelect($("#explorer-model"), modelOptions(), "no models");
}

META.ready.then(() => {
  refreshModels();
  $("#explorer-model").value = "zoo:lenet5";
  $("#explorer-model").addEventListener("change", () => { loadSummary(); $("#explorer-layers").innerHTML = ""; });
  $("#explorer-run").addEventListener("click", (e) => busy(e.target, showActivations));
  $("#explorer-patches").addEventListener("click", (e) => busy(e.target, showPatches));
  document.addEventListener("tab", async (event) => {
    if (event.detail !== "explorer") return;
    META.models = (await getJSON("/api/meta")).models;
    refreshModels();
  });
  loadSummary();
});
