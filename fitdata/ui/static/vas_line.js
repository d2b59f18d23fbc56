// The visual-analogue line (fitdata.ui.vas_line.VasLine, an anywidget): tap or drag on the
// line to set the mark; the mark's position gives 0.0-10.0 in tenths (Python validates it).
// Keyboard: arrows 0.1, Page Up/Down 1.0, Home/End the ends.
const toValue = (fraction) => Math.round(Math.min(Math.max(fraction, 0), 1) * 100) / 10;
const clampValue = (value) => Math.round(Math.min(Math.max(value, 0), 10) * 10) / 10;

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "fitdata-vas";
  const head = document.createElement("div");
  head.className = "fitdata-vas-head";
  const label = document.createElement("span");
  label.className = "fitdata-vas-label";
  const shown = document.createElement("span");
  shown.className = "fitdata-vas-value";
  shown.setAttribute("aria-hidden", "true");
  head.append(label, shown);
  const track = document.createElement("div");
  track.className = "fitdata-vas-track";
  track.setAttribute("role", "slider");
  track.setAttribute("aria-valuemin", "0");
  track.setAttribute("aria-valuemax", "10");
  track.setAttribute("aria-orientation", "horizontal");
  const rule = document.createElement("div");
  rule.className = "fitdata-vas-rule";
  const mark = document.createElement("div");
  mark.className = "fitdata-vas-mark";
  track.append(rule, mark);
  const anchors = document.createElement("div");
  anchors.className = "fitdata-vas-anchors";
  anchors.setAttribute("aria-hidden", "true");
  const left = document.createElement("span");
  const right = document.createElement("span");
  anchors.append(left, right);
  root.append(head, track, anchors);
  el.appendChild(root);

  const text = (value) => {
    const t = value.toFixed(1);
    return model.get("lang") === "nb" ? t.replace(".", ",") : t;
  };
  const draw = () => {
    const value = model.get("value");
    const disabled = model.get("disabled");
    label.textContent = model.get("label");
    left.textContent = model.get("left_anchor");
    right.textContent = model.get("right_anchor");
    root.classList.toggle("disabled", disabled);
    track.tabIndex = disabled ? -1 : 0;
    track.setAttribute("aria-disabled", disabled ? "true" : "false");
    track.setAttribute("aria-label", model.get("aria_label") || model.get("label"));
    if (value === null || value === undefined) {
      mark.style.display = "none";
      shown.textContent = "";
      track.removeAttribute("aria-valuenow");
      track.removeAttribute("aria-valuetext");
    } else {
      mark.style.display = "block";
      mark.style.left = `${value * 10}%`;
      shown.textContent = text(value);
      track.setAttribute("aria-valuenow", String(value));
      track.setAttribute("aria-valuetext", text(value));
    }
  };
  const set = (value, save) => {
    if (model.get("disabled")) return;
    model.set("value", value);
    if (save) model.save_changes();
  };
  const fractionAt = (event) => {
    const box = rule.getBoundingClientRect();
    return box.width > 0 ? (event.clientX - box.left) / box.width : 0;
  };
  let dragging = null;
  track.addEventListener("pointerdown", (event) => {
    if (model.get("disabled") || (event.pointerType === "mouse" && event.button !== 0)) return;
    dragging = event.pointerId;
    try {
      track.setPointerCapture(event.pointerId);
    } catch (_error) {
      // a synthetic pointer cannot be captured; the tap still counts
    }
    set(toValue(fractionAt(event)), false);
  });
  track.addEventListener("pointermove", (event) => {
    if (dragging === event.pointerId) set(toValue(fractionAt(event)), false);
  });
  const end = (event) => {
    if (dragging !== event.pointerId) return;
    dragging = null;
    if (event.type === "pointerup") set(toValue(fractionAt(event)), true);
    else model.save_changes();
  };
  track.addEventListener("pointerup", end);
  track.addEventListener("pointercancel", end);
  track.addEventListener("keydown", (event) => {
    if (model.get("disabled")) return;
    const value = model.get("value");
    const steps = {
      ArrowRight: 0.1,
      ArrowUp: 0.1,
      ArrowLeft: -0.1,
      ArrowDown: -0.1,
      PageUp: 1,
      PageDown: -1,
    };
    let next = null;
    if (event.key in steps) {
      const step = steps[event.key];
      const start = value === null || value === undefined ? (step > 0 ? 0 : 10) : value;
      next = value === null || value === undefined ? start : clampValue(start + step);
    } else if (event.key === "Home") {
      next = 0;
    } else if (event.key === "End") {
      next = 10;
    }
    if (next === null) return;
    event.preventDefault();
    set(next, true);
  });
  for (const name of ["value", "label", "left_anchor", "right_anchor", "disabled", "lang"]) {
    model.on(`change:${name}`, draw);
  }
  model.on("change:aria_label", draw);
  draw();
  return () => {
    for (const name of ["value", "label", "left_anchor", "right_anchor", "disabled", "lang"]) {
      model.off(`change:${name}`, draw);
    }
    model.off("change:aria_label", draw);
  };
}
export default { render };
