// Passkeys for Portvakt's pages: the only script they load. Every form
// marked data-passkey works like this: the server put the WebAuthn options
// in data-options; on submit the browser asks the authenticator, the
// answer goes into the form's hidden "credential" field, and the form is
// posted as usual. The server checks everything; this file only carries
// bytes between the page and navigator.credentials.
(() => {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const dec = (s) => {
    const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
  };
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

  const creation = (json) => {
    const o = JSON.parse(json).publicKey;
    o.challenge = dec(o.challenge);
    o.user.id = dec(o.user.id);
    (o.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    return o;
  };
  const request = (json) => {
    const o = JSON.parse(json).publicKey;
    o.challenge = dec(o.challenge);
    (o.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    return o;
  };
  const answer = (cred) => {
    const r = cred.response;
    const out = {
      id: cred.id, rawId: enc(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: enc(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      if (r.userHandle) out.response.userHandle = enc(r.userHandle);
    }
    return JSON.stringify(out);
  };

  const showError = (form, err) => {
    const box = form.querySelector('[data-passkey-error]');
    if (!box) return;
    box.textContent = err && err.name === 'InvalidStateError' ? box.dataset.exists : box.dataset.failed;
    box.hidden = false;
    box.focus();
  };
  const send = (form, cred) => {
    form.querySelector('input[name=credential]').value = answer(cred);
    form.submit();
  };

  let pending = null; // the conditional request, aborted before an explicit one
  const forms = document.querySelectorAll('form[data-passkey]');
  forms.forEach((form) => {
    form.hidden = false;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (pending) pending.abort();
      try {
        const cred = form.dataset.passkey === 'register'
          ? await navigator.credentials.create({ publicKey: creation(form.dataset.options) })
          : await navigator.credentials.get({ publicKey: request(form.dataset.options) });
        if (cred) send(form, cred);
      } catch (err) {
        showError(form, err);
      }
    });
  });

  // Passkeys offered in the email field's autofill (conditional mediation).
  const auto = document.querySelector('form[data-passkey="login"][data-conditional]');
  if (auto && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(async (ok) => {
      if (!ok) return;
      pending = new AbortController();
      try {
        const cred = await navigator.credentials.get({
          publicKey: request(auto.dataset.options), mediation: 'conditional', signal: pending.signal,
        });
        if (cred) send(auto, cred);
      } catch (err) {
        if (err.name !== 'AbortError') showError(auto, err);
      }
    });
  }
})();
