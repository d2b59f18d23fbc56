// A button that asks Python for a file and hands it to the browser as a download
// (fitdata.ui.download.DownloadButton, an anywidget).
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "fitdata-download jupyter-button widget-button";
  button.type = "button";
  const label = () => {
    button.textContent = model.get("label");
    button.disabled = model.get("disabled");
  };
  label();
  model.on("change:label", label);
  model.on("change:disabled", label);
  button.addEventListener("click", () => model.send({ event: "request" }));
  const receive = (msg, buffers) => {
    if (!msg || msg.event !== "file") return;
    const blob = new Blob([buffers[0]], { type: msg.mime });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  model.on("msg:custom", receive);
  el.appendChild(button);
  return () => model.off("msg:custom", receive);
}
export default { render };
