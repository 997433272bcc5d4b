// Passkeys: adding one on the two-step page, and signing in with one on the
// sign-in page, from the browser's autofill of the email field or from the
// "Sign in with a passkey" button. The server issues every ceremony's
// options and checks every answer; this module only carries them between
// the server and navigator.credentials, turning the options' base64url
// strings into the bytes the browser wants and its answer's bytes back.

const b64url = {
  decode(s) {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "="));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  },
  encode(buf) {
    let s = "";
    for (const byte of new Uint8Array(buf)) {
      s += String.fromCharCode(byte);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

// creationOptions is the server's options for navigator.credentials.create.
function creationOptions(o) {
  return {
    ...o,
    challenge: b64url.decode(o.challenge),
    user: { ...o.user, id: b64url.decode(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: b64url.decode(c.id) })),
  };
}

// requestOptions is the server's options for navigator.credentials.get.
function requestOptions(o) {
  return {
    ...o,
    challenge: b64url.decode(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: b64url.decode(c.id) })),
  };
}

// credentialJSON is a PublicKeyCredential as the server reads it, with its
// response's members as response gives them.
function credentialJSON(cred, response) {
  return {
    id: cred.id,
    rawId: b64url.encode(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response: { clientDataJSON: b64url.encode(cred.response.clientDataJSON), ...response },
    clientExtensionResults: cred.getClientExtensionResults(),
  };
}

// attestationJSON is a new passkey as the server reads it.
function attestationJSON(cred) {
  return credentialJSON(cred, {
    attestationObject: b64url.encode(cred.response.attestationObject),
    transports: cred.response.getTransports ? cred.response.getTransports() : [],
  });
}

// assertionJSON is a passkey's answer as the server reads it.
function assertionJSON(cred) {
  return credentialJSON(cred, {
    authenticatorData: b64url.encode(cred.response.authenticatorData),
    signature: b64url.encode(cred.response.signature),
    userHandle: cred.response.userHandle ? b64url.encode(cred.response.userHandle) : undefined,
  });
}

// post sends body as JSON and returns the status and the JSON answer.
async function post(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    // An answer that is not JSON (a proxy's page) says nothing more.
  }
  return { ok: res.ok, status: res.status, data };
}

function show(el, text) {
  if (!el) {
    return;
  }
  el.textContent = text;
  el.hidden = !text;
}

// setUpAdd makes the two-step page's form add a passkey.
function setUpAdd(form) {
  const noScript = document.getElementById("passkey-nojs");
  if (!window.PublicKeyCredential) {
    show(noScript, form.dataset.unsupported);
    return;
  }
  noScript.hidden = true;
  form.hidden = false;
  const name = form.querySelector("#passkey-name");
  const nameError = form.querySelector("#passkey-name-error");
  const formError = form.querySelector("#passkey-add-error");
  const fail = (answer) => {
    const fields = (answer && answer.data && answer.data.fields) || {};
    show(nameError, fields.name || "");
    name.toggleAttribute("aria-invalid", Boolean(fields.name));
    show(formError, fields.name ? "" : fields.credential || (answer && answer.data && answer.data.error) || form.dataset.failed);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    show(nameError, "");
    show(formError, "");
    const begun = await post("/settings/2fa/passkeys/begin", { name: name.value });
    if (!begun.ok) {
      fail(begun);
      return;
    }
    let cred;
    try {
      cred = await navigator.credentials.create({ publicKey: creationOptions(begun.data.publicKey) });
    } catch {
      fail(null);
      return;
    }
    const done = await post("/settings/2fa/passkeys/finish", { name: name.value, credential: attestationJSON(cred) });
    if (!done.ok) {
      fail(done);
      return;
    }
    window.location.reload();
  });
}

// setUpSignIn offers the site's passkeys on the sign-in page: in the email
// field's autofill where the browser can (conditional mediation), and from
// the button.
function setUpSignIn(button) {
  if (!window.PublicKeyCredential) {
    return;
  }
  const form = button.closest("form") || document;
  const error = document.getElementById("passkey-error");
  let pending = null;
  // finishing is set while an answer is being checked: the autofill's
  // request and the button's may both be answered, and only one signs in
  // and leaves the page.
  let finishing = false;

  const signIn = async (mediation) => {
    const begun = await post("/login/passkey/begin");
    if (!begun.ok) {
      show(error, begun.data.error || button.dataset.failed);
      return;
    }
    pending = new AbortController();
    let cred;
    try {
      const req = { publicKey: requestOptions(begun.data.publicKey), signal: pending.signal };
      if (mediation) {
        req.mediation = mediation;
      }
      cred = await navigator.credentials.get(req);
    } catch {
      // Dismissed, or aborted for the button's own request.
      if (!mediation) {
        show(error, button.dataset.failed);
      }
      return;
    }
    if (finishing) {
      return;
    }
    finishing = true;
    const next = form.querySelector('input[name="next"]');
    const remember = form.querySelector('input[name="remember"]');
    const done = await post("/login/passkey/finish", {
      credential: assertionJSON(cred),
      next: next ? next.value : "/",
      remember: Boolean(remember && remember.checked),
    });
    if (!done.ok) {
      finishing = false;
      show(error, done.status === 401 ? button.dataset.failed : done.data.error || button.dataset.failed);
      return;
    }
    window.location.assign(done.data.redirect);
  };

  button.hidden = false;
  button.addEventListener("click", () => {
    if (finishing) {
      return;
    }
    if (pending) {
      pending.abort();
    }
    show(error, "");
    signIn(null);
  });
  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (available) {
        signIn("conditional");
      }
    });
  }
}

// setUpStep makes the sign-in's second step use one of the pending user's
// passkeys.
function setUpStep(button) {
  const noScript = document.getElementById("passkey-nojs");
  if (noScript) {
    noScript.hidden = true;
  }
  if (!window.PublicKeyCredential) {
    return;
  }
  const error = document.getElementById("passkey-error");
  let busy = false;
  button.hidden = false;
  button.addEventListener("click", async () => {
    if (busy) {
      return;
    }
    busy = true;
    show(error, "");
    try {
      const begun = await post("/login/2fa/passkey/begin");
      if (!begun.ok) {
        show(error, begun.data.error || button.dataset.failed);
        return;
      }
      let cred;
      try {
        cred = await navigator.credentials.get({ publicKey: requestOptions(begun.data.publicKey) });
      } catch {
        show(error, button.dataset.failed);
        return;
      }
      const done = await post("/login/2fa/passkey/finish", { credential: assertionJSON(cred) });
      if (!done.ok) {
        show(error, done.data.error || button.dataset.failed);
        return;
      }
      window.location.assign(done.data.redirect);
    } finally {
      busy = false;
    }
  });
}

const add = document.getElementById("passkey-add");
if (add) {
  setUpAdd(add);
}
const button = document.getElementById("passkey-sign-in");
if (button) {
  setUpSignIn(button);
}
const step = document.getElementById("passkey-step");
if (step) {
  setUpStep(step);
}
