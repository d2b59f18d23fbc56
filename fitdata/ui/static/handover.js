// The tablet hand-over: asks the server to lock this browser's login session to a client link
// (POST client-handover, fitdata/server/client_access.py), then opens the client's page in
// place of this one. The therapist's page is emptied first, so that neither the back button
// nor a page restored from the browser's cache shows it to the client.
function xsrf() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("_xsrf="));
  return found ? decodeURIComponent(found.slice(6)) : "";
}

function baseUrl() {
  const path = window.location.pathname;
  const at = path.indexOf("voila/render/");
  return at >= 0 ? path.slice(0, at) : "/";
}

async function handOver(model) {
  const request = model.get("request");
  if (!request || !request.token) return;
  const body = new URLSearchParams({
    token: request.token,
    pin: request.pin || "",
    return_to: window.location.pathname,
    _xsrf: xsrf(),
  });
  let answer = null;
  try {
    const response = await fetch(baseUrl() + "client-handover", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-XSRFToken": xsrf() },
      body,
    });
    answer = await response.json().catch(() => ({}));
    if (response.ok && answer.url) {
      window.addEventListener("pageshow", (event) => {
        if (event.persisted) window.location.reload();
      });
      document.body.replaceChildren();
      window.location.replace(answer.url);
      return;
    }
  } catch (error) {
    answer = { reason: "network" };
  }
  model.set("error", `${(answer && answer.reason) || "refused"}#${request.n}`);
  model.save_changes();
}

export default {
  render({ model, el }) {
    el.classList.add("fitdata-handover-launcher");
    // the address this page was opened at: the phone link's address when none is configured
    model.set("origin", window.location.origin);
    model.save_changes();
    model.on("change:request", () => handOver(model));
  },
};
