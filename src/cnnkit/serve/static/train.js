"use strict";
// Page 4: the training dashboard: start a run, watch its curves live, stop it, list and resume past runs.

const training = { job: null };

function drawCurves(curves) {
  const get = (key) => curves[key] || [];
  lineChart($("#train-loss"), "Loss", [{ name: "train", values: get("loss"), color: "#2f6fde" }, { name: "validation", values: get("val_loss"), color: "#e0762b" }]);
  lineChart($("#train-acc"), "Accuracy", [{ name: "train", values: get("accuracy"), color: "#2f6fde" }, { name: "validation", values: get("val_accuracy"), color: "#e0762b" }], [0, 1]);
}

async function refreshRuns() {
  let result;
  try { result = await getJSON("/api/train/runs"); } catch (exc) { return; }
  const table = $("#train-runs");
  table.className = "grid";
  table.innerHTML = "";
  table.append(el("tr", {}, ["Run", "Model", "Epochs done", "Val. accuracy", ""].map((h, k) => el("th", { class: k === 2 || k === 3 ? "num" : "", text: h }))));
  if (!result.runs.length) table.append(el("tr", {}, el("td", { colspan: "5", class: "muted", text: "No runs yet: start one with the form." })));
  for (const run of result.runs) {
    const acc = (run.curves.val_accuracy || []).filter((v) => v !== null);
    const done = (run.curves.epoch || []).length;
    const show = el("button", { type: "button", text: "curves" });
    show.addEventListener("click", () => {
      drawCurves(run.curves);
      $("#train-run").textContent = run.id;
      $$("#train-runs tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.run === run.id));
      const plot = $("#train-plot");
      if (run.plot) { plot.src = `/api/train/plot/${run.id}?t=${run.modified}`; plot.classList.remove("hidden"); } else plot.classList.add("hidden");
    });
    const resume = el("button", { type: "button", text: "resume +5" });
    resume.disabled = !run.weights;
    resume.addEventListener("click", (e) => busy(e.target, () => start({ resume: run.id, epochs: done + 5 })));
    table.append(el("tr", { "data-run": run.id }, [el("td", { text: run.id.replace("classify/", "") }), el("td", { text: `${run.args.model} on ${run.args.data}` }),
      el("td", { class: "num", text: `${done} / ${run.args.epochs}` }), el("td", { class: "num", text: acc.length ? acc[acc.length - 1].toFixed(4) : "–" }),
      el("td", {}, [show, " ", resume])]));
  }
}

async function refreshTrainQueue() {
  try { renderQueue($("#train-queue"), (await getJSON("/api/jobs?kind=train")).jobs); } catch (exc) { /* shown in the banner */ }
}

async function start(body) {
  const job = await postJSON("/api/train", body);
  training.job = job.id;
  $("#train-stop").disabled = false;
  refreshTrainQueue();
  followJob(job.id, (j) => {
    if (training.job !== j.id) return;
    renderJob($("#train-job"), j);
    if (j.partial) { drawCurves(j.partial.curves); $("#train-run").textContent = j.partial.run; }
    refreshTrainQueue();
    if (["done", "failed", "cancelled"].includes(j.state)) {
      $("#train-stop").disabled = true;
      if (j.state !== "failed") $("p", $("#train-job")).textContent = j.result ? j.result.message : "stopped";
      refreshRuns();
    }
  }, 1000);
}

META.ready.then(() => {
  const form = $("#train-form");
  for (const name of META.train_models) form.model.append(el("option", { value: name, text: name }));
  for (const name of META.train_data) form.data.append(el("option", { value: name, text: name === "digits" ? "digits (8×8, 1797 images)" : name }));
  $("#train-start").addEventListener("click", (e) => busy(e.target, () => start({ model: form.model.value, data: form.data.value, epochs: Number(form.epochs.value), limit: form.limit.value })));
  $("#train-stop").addEventListener("click", async () => {
    if (training.job) { await postJSON(`/api/jobs/${training.job}/cancel`, {}); $("p", $("#train-job")).textContent = "stopping after this batch…"; }
  });
  drawCurves({});
  document.addEventListener("tab", (event) => { if (event.detail === "train") { refreshRuns(); refreshTrainQueue(); } });
  refreshRuns();
});
