// A dashboard page ends its kernel when it is closed or left (fitdata/server/page_close.py).
// The server wrote the shutdown address and this page's key beside this script; the beacon
// carries the key and the _xsrf cookie the server set with the page. It is sent once: when the
// page is hidden for good (pagehide), or when Voila sends its own beacon (beforeunload), whose
// request has no key and would be refused, so ours goes in its place.
(() => {
  const details = document.getElementById("fitdata-page-close");
  if (!details || !navigator.sendBeacon) return;
  const { url, field, key } = JSON.parse(details.textContent);
  const path = url.slice(url.indexOf("/voila/api/shutdown/"));
  const send = navigator.sendBeacon.bind(navigator);
  let sent = false;
  const endKernel = () => {
    if (sent) return true;
    sent = true;
    const form = new FormData();
    const xsrf = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    form.append("_xsrf", xsrf ? xsrf[1] : "");
    form.append(field, key);
    return send(url, form);
  };
  navigator.sendBeacon = (target, body) =>
    String(target).endsWith(path) ? endKernel() : send(target, body);
  window.addEventListener("pagehide", endKernel);
  // a page brought back from the back-forward cache has no kernel any more: load it anew
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && sent) window.location.reload();
  });
})();
