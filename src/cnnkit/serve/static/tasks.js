"use strict";
// Page 3: tasks on your pictures: classify, detect, faces, edges, style transfer (a queued job with a progress bar).

function facesCanvas(result, labelOf) {
  // The picture with each face's box, its 5 landmarks and a label drawn on a canvas.
  const canvas = el("canvas", { class: "result-image" });
  const image = new Image();
  image.onload = () => {
    const scale = Math.min(1, 640 / Math.max(result.width, result.height));
    canvas.width = result.width * scale; canvas.height = result.height * scale;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 2; ctx.font = "600 14px system-ui";
    result.faces.forEach((face, k) => {
      const [x1, y1, x2, y2] = face.box.map((v) => v * scale);
      ctx.strokeStyle = "#38c8ff"; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillStyle = "#ffd228";
      for (const [x, y] of face.landmarks || []) { ctx.beginPath(); ctx.arc(x * scale, y * scale, 3, 0, 7); ctx.fill(); }
      const label = labelOf(face, k);
      const width = ctx.measureText(label).width + 8;
      ctx.fillStyle = "#38c8ff"; ctx.fillRect(x1, Math.max(0, y1 - 20), width, 20);
      ctx.fillStyle = "#0b1a2a"; ctx.fillText(label, x1 + 4, Math.max(15, y1 - 5));
    });
  };
  image.src = result.png;
  return canvas;
}

function setOut(id, ...nodes) { const out = $(id); out.className = ""; out.innerHTML = ""; out.append(...nodes); }

async function classify() {
  const form = $("#task-classify form");
  const result = await postForm("/api/classify", formData(form));
  setOut("#classify-out", el("div", { class: "pair" }, [el("img", { src: result.input, alt: "input", style: "width:128px;image-rendering:pixelated" }), bars(result.prediction)]));
}

async function detect() {
  const result = await postForm("/api/detect", formData($("#task-detect form")));
  const list = result.detections.map((d) => `${d.class} ${(100 * d.score).toFixed(0)}% at (${d.box.join(", ")})`).join("; ") || "nothing above the threshold";
  setOut("#detect-out", el("img", { class: "result-image", src: result.png, alt: "detections" }), el("p", { class: "detections", text: list }));
}

async function faceDetect() {
  const result = await postForm("/api/faces/detect", formData($("#faces-detect-form")));
  setOut("#faces-out", el("p", { text: `${result.faces.length} face(s) found by MTCNN` }),
    facesCanvas(result, (face) => `${(100 * face.score).toFixed(1)}%`));
}

async function faceVerify() {
  const result = await postForm("/api/faces/verify", formData($("#faces-verify-form")));
  setOut("#faces-out", el("div", { class: `verdict ${result.same ? "same" : "different"}`, text: result.same ? "Same person" : "Different people" }),
    el("p", { text: `distance between the face descriptors ${result.distance.toFixed(3)} (same person below ${result.threshold})` }),
    el("div", { class: "pair" }, [el("img", { src: result.a, alt: "first photo" }), el("img", { src: result.b, alt: "second photo" })]));
}

async function refreshPeople() {
  const result = await getJSON("/api/faces/people");
  $("#faces-people").textContent = result.people.length ? result.people.join(", ") : "none yet";
}

async function faceEnroll() {
  const result = await postForm("/api/faces/enroll", formData($("#faces-enroll-form")));
  $("#faces-people").textContent = result.people.join(", ");
  setOut("#faces-out", el("p", { text: `Enrolled ${result.enrolled}. Now identify someone in a photo.` }));
}

async function faceIdentify() {
  const result = await postForm("/api/faces/identify", formData($("#faces-identify-form")));
  setOut("#faces-out", el("p", { text: `${result.faces.length} face(s): ${result.faces.map((f) => `${f.name || "unknown"} (${f.distance.toFixed(3)})`).join(", ") || "none"}` }),
    facesCanvas(result, (face) => `${face.name || "unknown"} ${face.distance.toFixed(2)}`));
}

async function edges() {
  const result = await postForm("/api/edges", formData($("#task-edges form")));
  setOut("#edges-out", el("div", { class: "pair" }, [el("img", { src: result.input, alt: "input", style: "width:48%" }),
    el("img", { src: result.png, alt: `${result.kind} edges`, style: "width:48%" })]));
}

async function refreshQueue(kind, list) {
  try { renderQueue(list, (await getJSON(`/api/jobs?kind=${kind}`)).jobs); } catch (exc) { /* shown in the banner */ }
}

async function stylise() {
  const job = await postForm("/api/style", formData($("#task-style form")));
  const box = $("#style-job"), image = $("#style-image");
  refreshQueue("style", $("#style-queue"));
  const stop = $("#style-stop");
  stop.disabled = false;
  stop.onclick = () => postJSON(`/api/jobs/${job.id}/cancel`, {});
  // followed in the background, so that another job can be queued meanwhile
  followJob(job.id, (j) => {
    if (["done", "failed", "cancelled"].includes(j.state)) stop.disabled = true;
    renderJob(box, j);
    const src = (j.result && j.result.png) || j.partial;
    if (src) { image.src = src; image.classList.remove("hidden"); }
    if (j.state === "done") $("p", box).textContent = `done: ${j.result.seconds_per_step} s per step · ${j.elapsed.toFixed(1)} s in all`;
    refreshQueue("style", $("#style-queue"));
  });
}

META.ready.then(() => {
  fillSelect($("#task-classify .models-classify"), META.models.classify, "no checkpoints yet: train one on the Training tab");
  fillSelect($("#task-detect .models-detect"), META.models.detect, "no detectors yet: cnnkit detect train writes one");
  $$("#task-tabs button").forEach((b) => b.addEventListener("click", () => {
    $$("#task-tabs button").forEach((x) => x.classList.toggle("active", x === b));
    $$(".task").forEach((t) => t.classList.toggle("active", t.id === `task-${b.dataset.task}`));
  }));
  const actions = { "#classify-run": classify, "#detect-run": detect, "#faces-detect": faceDetect, "#faces-verify": faceVerify,
                    "#faces-enroll": faceEnroll, "#faces-identify": faceIdentify, "#edges-run": edges, "#style-run": stylise };
  for (const [id, action] of Object.entries(actions)) $(id).addEventListener("click", (e) => busy(e.target, action));
  document.addEventListener("tab", async (event) => {
    if (event.detail !== "tasks") return;
    META.models = (await getJSON("/api/meta")).models;
    fillSelect($("#task-classify .models-classify"), META.models.classify, "no checkpoints yet: train one on the Training tab");
    fillSelect($("#task-detect .models-detect"), META.models.detect, "no detectors yet: cnnkit detect train writes one");
    refreshPeople();
    refreshQueue("style", $("#style-queue"));
  });
});
